// Time the sharded array of bench_sharded.py read by zarrita.js, out of its folder (FileSystemStore) and out of
// each zip (@zarrita/storage's ZipFileStore over a Blob backed by the zip file, as read_zarrita.mjs opens zips).
// The same units, stopping rule, check and records as the Python probe; statistics are the host's job. Node keeps
// the memory it frees for its next allocations, so a read's peak above its start counts only what it took beyond.

import * as fs from "node:fs";

import FileSystemStore from "@zarrita/storage/fs";
import ZipFileStore from "@zarrita/storage/zip";
import * as zarr from "zarrita";

import { Output, errorOf, mainGuard, parseArgs, versionOf, zipBlob } from "./_zmprobe.mjs";

// The writer's formula (bench_sharded.py's values), in 32-bit integers as numpy computes it.
function expected([[r0, r1], [c0, c1]]) {
  const out = new Int32Array((r1 - r0) * (c1 - c0));
  let i = 0;
  for (let r = r0; r < r1; r++) {
    for (let c = c0; c < c1; c++) out[i++] = r * 7 + c * 3 + (((r * 31) ^ (c * 17)) % 256);
  }
  return out;
}

function statusKib(field) {
  try {
    const line = fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(field + ":"));
    return line ? Number(line.split(/\s+/)[1]) : null;
  } catch {
    return null;
  }
}

// Linux: reset the peak resident size, so that one read's own peak can be read (as the Python probes do).
function resetPeak() {
  try {
    fs.writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

function dropPageCache() {
  try {
    fs.writeFileSync("/proc/sys/vm/drop_caches", "3");
    return "dropped before each read";
  } catch (err) {
    return `warm (could not drop it: ${err.code || err.message})`;
  }
}

// The median and its distribution-free 95% interval, as _measure.converged judges it.
function converged(samples, within) {
  const x = [...samples].sort((a, b) => a - b);
  const n = x.length;
  const half = (1.96 * Math.sqrt(n)) / 2;
  const lo = Math.max(0, Math.floor(n / 2 - half));
  const hi = Math.min(n - 1, Math.ceil(n / 2 + half) - 1);
  const median = n % 2 ? x[(n - 1) / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
  return (x[hi] - x[lo]) / 2 <= within * median;
}

async function open(store, path) {
  const backing = store === "folder" ? new FileSystemStore(path) : ZipFileStore.fromBlob((await zipBlob(path))[0]);
  return zarr.open(zarr.root(backing), { kind: "array" });
}

async function once(unit, drop) {
  if (drop) unit.page_cache = dropPageCache();
  const peaks = resetPeak();
  const rss = statusKib("VmRSS");
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const array = await open(unit.store, unit.path);
  const got = await zarr.get(array, unit.region.map(([a, b]) => zarr.slice(a, b)));
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const peak = peaks ? statusKib("VmHWM") : null;
  const want = unit.expected;
  const shape = unit.region.map(([a, b]) => b - a);
  const same = got.shape.length === shape.length && got.shape.every((n, i) => n === shape[i]) &&
    got.data.length === want.length && got.data.every((v, i) => v === want[i]);
  if (!same) throw new Error(`read back shape (${got.shape}) where (${shape}) was asked, or other values`);
  return { wall, cpu: (cpu.user + cpu.system) / 1e6, peak: peak === null || rss === null ? null : Math.max(0, peak - rss) * 1024 };
}

// As bench_sharded.py's repeat: time `once` (after an untimed call where the cache is to be warm) until the median
// is known to within the target, or the repeats or the budget are spent; returns why it stopped.
async function repeat(once, warmUp, request, add, samples) {
  const started = performance.now();
  if (warmUp) await once();
  for (;;) {
    add(await once());
    const n = samples.length;
    const spent = (performance.now() - started) / 1000;
    if (n >= request.repeats && converged(samples, request.within)) return "converged";
    if (n >= request.max_repeats) return "max repeats";
    if (spent >= request.budget_s && (n >= 3 || spent >= 3 * request.budget_s)) return "time budget";
  }
}

async function run(unit, request) {
  const cold = unit.cache === "cold";
  const add = (m) => {
    unit.samples_s.push(m.wall);
    unit.cpu_s.push(m.cpu);
    unit.peak_bytes.push(m.peak);
  };
  try {
    unit.stop = await repeat(() => once(unit, cold), !cold, request, add, unit.samples_s);
  } catch (err) {
    unit.error = errorOf(err);
    unit.stop = "error";
  }
}

// As bench_sharded.py's floor: read(2) of as many bytes as the access returns, from the STORED zip, into a buffer
// filled beforehand; the page cache as the readers find it.
async function floor(path, nbytes, cache, request) {
  const buffer = Buffer.alloc(nbytes);
  const samples = [];
  const once = async () => {
    if (cache === "cold") dropPageCache();
    const t0 = performance.now();
    const fd = fs.openSync(path, "r");
    try {
      for (let done = 0; done < nbytes;) {
        const got = fs.readSync(fd, buffer, done, nbytes - done, done);
        if (got === 0) break;
        done += got;
      }
    } finally {
      fs.closeSync(fd);
    }
    return (performance.now() - t0) / 1000;
  };
  await repeat(once, cache !== "cold", request, (wall) => samples.push(wall), samples);
  return samples;
}

async function main() {
  const args = parseArgs();
  const request = JSON.parse(fs.readFileSync(args.request, "utf8"));
  const out = new Output(args.out);
  const facts = { implementation: "zarrita.js", library_version: versionOf("zarrita"),
    zarrita_storage_version: versionOf("@zarrita/storage"), node_version: process.version,
    zip_blob: typeof fs.openAsBlob === "function" ? "fs.openAsBlob" : "fs.readFileSync" };
  const skip = new Set((request.skip || []).map((key) => key.join("\0")));
  const floors = new Map();
  const record = (unit) => ({ ...facts, kind: "sharded", store: unit.store, access: unit.access, region: unit.region,
    cache: unit.cache, nbytes: unit.region.reduce((n, [a, b]) => n * (b - a), 4), decoded_by: null,
    page_cache: unit.cache === "cold" ? unit.page_cache : "warm", samples_s: unit.samples_s, cpu_s: unit.cpu_s,
    peak_bytes: unit.peak_bytes, floor_samples_s: unit.floor, error: unit.error, stop: unit.stop });
  for (const cache of request.caches) {
    for (const [store, path] of Object.entries(request.stores)) {
      for (const [access, region] of Object.entries(request.accesses)) {
        if (skip.has([cache, store, access].join("\0"))) continue;
        const unit = { store, path, access, region, cache, samples_s: [], cpu_s: [], peak_bytes: [], error: null,
          stop: null, page_cache: "warm", expected: expected(region), floor: [] };
        const key = [access, cache].join("\0");
        if (!floors.has(key) && request.stores["zip-stored"]) {
          floors.set(key, await floor(request.stores["zip-stored"], unit.expected.length * 4, cache, request));
        }
        unit.floor = floors.get(key) || [];
        // As the Python probe: the last of these without its record names a unit that crashed the probe, and a
        // unit past its deadline is recorded as such before the probe ends itself.
        out.emit({ ...facts, kind: "sharded-begin", cache, store, access });
        const deadline = setTimeout(() => {
          unit.error = { type: "Timeout", traceback: "", message: `one read did not finish in ${request.unit_timeout_s} s ` +
            "(the unit's deadline); the probe stopped itself" };
          unit.stop = "error";
          out.emit(record(unit));
          process.exit(4);
        }, request.unit_timeout_s * 1000);
        await run(unit, request);
        clearTimeout(deadline);
        out.emit(record(unit));
      }
    }
  }
  return 0;
}

mainGuard(main);
