// Read a fixture with zarrita.js: a zip through @zarrita/storage's ZipFileStore (a Blob of the zip in memory, or
// backed by the file for a large zip),
// the unzipped control through its FileSystemStore; each array opened with zarr.open and read whole with
// zarr.get. A store nested in the zip is opened at its folder.

import * as fs from "node:fs";
import * as path from "node:path";

import FileSystemStore from "@zarrita/storage/fs";
import ZipFileStore from "@zarrita/storage/zip";
import * as zarr from "zarrita";

import { Output, checksum, errorOf, mainGuard, parseArgs, versionOf, zipBlob, zipNames } from "./_zmprobe.mjs";

const METHOD = "zarr.open";
// Up to this size a zip is read into memory, as a web page holds a file it fetched. A file-backed Blob opens the
// file for each range it reads (30 ms on a 5-array zip against 4 ms in memory); past this size memory is dearer.
const IN_MEMORY_BYTES = 64 * 1024 * 1024;

function versions() {
  return { library_version: versionOf("zarrita"), zarrita_storage_version: versionOf("@zarrita/storage"),
    node_version: process.version };
}

async function storeOf(fixture) {
  const file = path.resolve(fixture.path);
  if (fixture.variant === "zip") {
    const [blob, blobText] = await zipBlob(file, IN_MEMORY_BYTES);
    return [ZipFileStore.fromBlob(blob), `ZipFileStore.fromBlob(${blobText})`];
  }
  return [new FileSystemStore(file), `new FileSystemStore(${JSON.stringify(file)})`];
}

function folderKeys(folder, prefix = "") {
  const out = [];
  for (const entry of fs.readdirSync(path.join(folder, prefix), { withFileTypes: true })) {
    const name = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...folderKeys(folder, name));
    else out.push(name);
  }
  return out;
}

// Every array below the store's root: the folders holding .zarray, or a zarr.json whose node is an array.
async function walk(store, fixture) {
  const root = fixture.variant === "zip" ? fixture.root || "" : "";
  const keys = fixture.variant === "zip" ? zipNames(path.resolve(fixture.path)) : folderKeys(path.resolve(fixture.path));
  const found = [];
  for (const key of keys.sort()) {
    if (root && !key.startsWith(root + "/")) continue;
    const inner = root ? key.slice(root.length + 1) : key;
    const parts = inner.split("/");
    const name = parts.pop();
    const folder = parts.join("/");
    if (name === ".zarray") found.push(folder);
    else if (name === "zarr.json") {
      const bytes = await store.get("/" + key);
      if (bytes && JSON.parse(new TextDecoder().decode(bytes)).node_type === "array") found.push(folder);
    }
  }
  return found;
}

async function readOne(request, out) {
  const fixture = request.fixture;
  let wanted = request.arrays;
  const record = { kind: "attempt", library: "zarrita", method: request.method, variant: fixture.variant,
    fixture: fixture.name, call: null, opened: false, error: null, arrays: [], discovered: wanted == null,
    ...versions() };
  const started = performance.now();
  // Node leaves when nothing is left to run: a promise of the library that never settles ends the probe with
  // exit code 0 and no record. Say so, rather than leave the attempt unexplained.
  const unsettled = () => {
    record.error = { type: "UnsettledPromise", traceback: "",
      message: "the read never finished: a promise of the library never settled and Node's event loop emptied" };
    record.seconds = Math.round(performance.now() - started) / 1000;
    out.emit(record);
  };
  process.once("exit", unsettled);
  try {
    const [store, storeText] = await storeOf(fixture);
    let location = zarr.root(store);
    const nested = fixture.variant === "zip" ? fixture.root || "" : "";
    if (nested) location = location.resolve(nested);
    record.call = `zarr.open(zarr.root(${storeText})${nested ? `.resolve(${JSON.stringify(nested)})` : ""})`;
    out.emit({ ...record, kind: "attempt-begin" });
    // A store whose root holds no metadata (arrays side by side, no root group): each node is opened.
    const parts = fixture.parts && fixture.parts.length ? fixture.parts : [""];
    for (const part of parts) await zarr.open(part ? location.resolve(part) : location);
    record.opened = true;
    if (wanted == null) wanted = (await walk(store, fixture)).map((p) => ({ path: p }));
    for (const spec of wanted) {
      const entry = { path: spec.path };
      try {
        const arr = await zarr.open(spec.path ? location.resolve(spec.path) : location, { kind: "array" });
        const [digest, observed] = checksum(await zarr.get(arr), arr.dtype, spec.dtype ? spec : null);
        Object.assign(entry, { sha256: digest, observed: observed });
      } catch (err) {
        entry.error = errorOf(err);
      }
      record.arrays.push(entry);
    }
  } catch (err) {
    record.error = errorOf(err);
  }
  process.removeListener("exit", unsettled);
  record.seconds = Math.round(performance.now() - started) / 1000;
  out.emit(record);
  return 0;
}

async function main() {
  const args = parseArgs();
  if (args["list-methods"]) {
    process.stdout.write(JSON.stringify([METHOD]) + "\n");
    return 0;
  }
  const request = JSON.parse(fs.readFileSync(args.request, "utf8"));
  return readOne(request, new Output(args.out));
}

mainGuard(main);
