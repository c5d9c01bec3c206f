// Write a fixture with zarrita.js: the reference arrays into a folder through @zarrita/storage's
// FileSystemStore, zipped afterwards (zarrita writes no zip). "zarrita-v3" takes zarrita's defaults
// (no codecs at all, fill_value null where none is given); "zarrita-spec-v3" gives what the Zarr v3 spec
// asks for: the bytes codec named, and a fill value (0) for every array. Called as `write_zarrita.mjs --request REQ.json --out RECORDS.jsonl`.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import FileSystemStore from "@zarrita/storage/fs";
import * as zarr from "zarrita";

import { errorOf, mainGuard, parseArgs, referenceArrays, requestAndOutput, checksum, versionOf, zipFolder,
  zipNames } from "./_zmprobe.mjs";

const CODECS = {
  "zarrita-v3": undefined,
  // Only the bytes codec: zarrita decodes gzip but cannot encode it ("unimplemented").
  "zarrita-spec-v3": [{ name: "bytes", configuration: { endian: "little" } }],
};

function versions() {
  return { zarrita_version: versionOf("zarrita"), zarrita_storage_version: versionOf("@zarrita/storage"),
    node_version: process.version };
}

async function write(kind, folder) {
  const codecs = CODECS[kind];
  const root = zarr.root(new FileSystemStore(folder));
  await zarr.create(root, { attributes: { title: "zarrmatrix fixture", kind: kind } });
  const groups = new Set();
  const entries = [];
  for (const array of referenceArrays()) {
    const parts = array.name.split("/");
    for (let i = 1; i < parts.length; i++) {
      const group = parts.slice(0, i).join("/");
      if (!groups.has(group)) {
        groups.add(group);
        await zarr.create(root.resolve(group));
      }
    }
    const options = { shape: array.shape, chunkShape: array.chunks, dtype: array.dtype };
    if (codecs) options.codecs = codecs;
    if (array.fill_value !== undefined) options.fillValue = array.fill_value;
    else if (codecs) options.fillValue = 0;
    const arr = await zarr.create(root.resolve(array.name), options);
    await zarr.set(arr, array.bounds.map(([a, b]) => zarr.slice(a, b)), array.block);
    const [digest] = checksum({ data: array.data, shape: array.shape, stride: null }, array.dtype);
    const entry = { path: array.name, shape: array.shape, dtype: array.dtype, chunks: array.chunks, sha256: digest,
      codec: codecs ? "bytes" : "zarrita's default (none)" };
    if (options.fillValue !== undefined) entry.fill_value = options.fillValue;
    entries.push(entry);
  }
  return entries;
}

function zipFacts(file) {
  const names = zipNames(file);
  return { members: names.length, duplicate_members: names.length - new Set(names).size, compression: ["store"],
    bytes: fs.statSync(file).size };
}

// As run_writer in _writer.py: under names readers never pick up, renamed when whole.
async function main() {
  const [request, out] = requestAndOutput(parseArgs());
  const { kind, cell_id: cellId, out_dir: outDir } = request;
  const name = `${cellId}__${kind}.zip`;
  const target = path.join(outDir, name);
  const partial = path.join(outDir, `.${name}.partial`);
  const partialManifest = path.join(outDir, `.${name}.manifest.json.partial`);
  const facts = versions();
  const record = { ...facts, kind: "fixture", fixture: name, fixture_kind: kind, writer: cellId };
  const started = performance.now();
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "zm-zarrita-"));
  try {
    if (!(kind in CODECS)) throw new Error(`unknown fixture kind ${kind}`);
    const entries = await write(kind, folder);
    const packing = zipFolder(folder, partial);
    const variant = kind === "zarrita-v3" ? "zarrita defaults, zipped" : "zarrita, bytes codec and fill values, zipped";
    const manifest = { fixture: name, writer: cellId, kind: kind, zarr_format: 3, variant: variant, arrays: entries,
      zip: zipFacts(partial), synthetic: false, versions: facts };
    fs.writeFileSync(partialManifest, JSON.stringify(manifest, null, 1));
    fs.renameSync(partialManifest, target + ".manifest.json");
    fs.renameSync(partial, target);
    Object.assign(record, packing, { manifest: manifest, error: null });
  } catch (err) {
    record.error = errorOf(err);
    for (const leftover of [partial, partialManifest]) fs.rmSync(leftover, { force: true });
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
  record.seconds = Math.round(performance.now() - started) / 1000;
  out.emit(record);
  return 0;
}

mainGuard(main);
