// Write a fixture with zarrita.js: the reference arrays into a folder through @zarrita/storage's
// FileSystemStore, zipped afterwards (zarrita writes no zip). "zarrita-v3" takes zarrita's defaults
// (no codecs at all, fill_value null where none is given); "zarrita-spec-v3" gives what the Zarr v3 spec
// asks for: the bytes codec named, and a fill value (0) for every array. Called as `write_zarrita.mjs --request REQ.json --out RECORDS.jsonl`.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import FileSystemStore from "@zarrita/storage/fs";
import * as zarr from "zarrita";

import { errorOf, featureArrays, featureFill, mainGuard, parseArgs, referenceArrays, requestAndOutput, checksum,
  versionOf, zipFolder, zipNames } from "./_zmprobe.mjs";

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

const BYTES = (endian) => ({ name: "bytes", configuration: { endian: endian } });
const FEATURE_CODECS = {
  zstd: { name: "zstd", configuration: { level: 3, checksum: false } },
  gzip: { name: "gzip", configuration: { level: 5 } },
  "blosc-bitshuffle": { name: "blosc", configuration: { cname: "zstd", clevel: 5, shuffle: "bitshuffle", typesize: 4,
    blocksize: 0 } },
  crc32c: { name: "crc32c" },
};

// The codecs of a feature as the v3 spec spells them: zarrita is handed them, and encodes them or says it cannot.
function featureCodecs(spec) {
  if (spec.dtype === "string") return [{ name: "vlen-utf8" }];
  let codecs = [BYTES(spec.endian || "little")];
  if (spec.codec === "transpose") codecs.unshift({ name: "transpose", configuration: { order: [1, 0] } });
  else if (spec.codec) codecs.push(FEATURE_CODECS[spec.codec]);
  if (spec.shard) {
    codecs = [{ name: "sharding_indexed", configuration: { chunk_shape: spec.shard.chunks, codecs: codecs,
      index_codecs: [BYTES("little"), { name: "crc32c" }], index_location: spec.shard.index_location } }];
  }
  return codecs;
}

// One catalogue feature through zarrita.create and zarr.set, into a folder zipped afterwards.
async function writeFeature(feature, folder, target) {
  const { spec, data, bounds, block } = feature;
  if (spec.chunk_key === "v2") throw new Error("zarrita.create has no chunk_key_encoding option but the separator");
  const root = zarr.root(new FileSystemStore(folder));
  await zarr.create(root, { attributes: { feature: spec.id } });
  // The extension data types by the names zarr-python gives them, for zarrita to accept or refuse.
  const dtype = { "datetime64[s]": "numpy.datetime64" }[spec.dtype] || spec.dtype;
  const options = { shape: spec.old_shape || spec.shape, chunkShape: spec.chunks, dtype: dtype,
    codecs: featureCodecs(spec), fillValue: featureFill(spec) };
  if (spec.attributes) options.attributes = Object.fromEntries(Object.entries(spec.attributes).map(([k, v]) =>
    [k, featureFill({ fill_value: v })]));
  let arr = await zarr.create(root.resolve("data"), options);
  const extra = {};
  let stale = null;
  if (spec.old_shape) {
    // zarrita has no resize: the array is created again at its new shape, over the chunks already written.
    const old = spec.old_shape[0];
    await zarr.set(arr, [zarr.slice(0, old)], { data: block.data.slice(0, old), shape: [old], stride: [1] });
    stale = ["data/zarr.json", fs.readFileSync(path.join(folder, "data", "zarr.json"))];
    arr = await zarr.create(root.resolve("data"), { ...options, shape: spec.shape });
    const rest = spec.shape[0] - old;
    await zarr.set(arr, [zarr.slice(old, spec.shape[0])], { data: block.data.slice(old), shape: [rest], stride: [1] });
    extra.hand_edit = "the metadata data/zarr.json of the array before it was created again at its new shape, zipped " +
      "as a member of its own ahead of the current one";
  } else if (spec.shape.length === 0) {
    await zarr.set(arr, null, data[0]);
  } else if (data.length) {
    // An array with no element has nothing to write: its metadata is the fixture.
    await zarr.set(arr, bounds.map(([a, b]) => zarr.slice(a, b)), block);
  }
  if (spec.edit === "bytes-no-endian") {
    const file = path.join(folder, "data", "zarr.json");
    const meta = JSON.parse(fs.readFileSync(file, "utf8"));
    for (const codec of meta.codecs) if (codec.name === "bytes") delete codec.configuration.endian;
    fs.writeFileSync(file, JSON.stringify(meta, null, 2));
    extra.hand_edit = "dropped `endian` from the bytes codec of data/zarr.json";
  }
  Object.assign(extra, zipFolder(folder, target, stale));
  const [digest] = checksum({ data, shape: spec.shape, stride: null }, spec.dtype);
  const entry = { path: "data", shape: spec.shape, dtype: spec.dtype, chunks: spec.chunks, sha256: digest,
    feature: spec.id, codec: JSON.stringify(options.codecs) };
  if (spec.fill_value != null) entry.fill_value = spec.fill_value;
  return [`zarrita ${versionOf("zarrita")}, zipped`, [entry], extra];
}

// As write_one in _writer.py: under names readers never pick up, renamed when whole.
async function writeOne(request, out, kind, facts, write, feature) {
  const { cell_id: cellId, out_dir: outDir } = request;
  const name = `${cellId}__${kind}.zip`;
  const target = path.join(outDir, name);
  const partial = path.join(outDir, `.${name}.${request.kind}.partial`);
  const partialManifest = path.join(outDir, `.${name}.manifest.json.${request.kind}.partial`);
  const record = { ...facts, kind: "fixture", fixture: name, fixture_kind: kind, writer: cellId };
  const started = performance.now();
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "zm-zarrita-"));
  try {
    const [variant, entries, extra] = await write(folder, partial);
    Object.assign(record, extra);
    const manifest = { fixture: name, writer: cellId, kind: kind, zarr_format: 3, variant: variant, arrays: entries,
      zip: zipFacts(partial), synthetic: false, versions: facts };
    if (feature) {
      manifest.feature = feature;
      if (extra.hand_edit) manifest.hand_edit = extra.hand_edit;
    }
    fs.writeFileSync(partialManifest, JSON.stringify(manifest, null, 1));
    fs.renameSync(partialManifest, target + ".manifest.json");
    fs.renameSync(partial, target);
    Object.assign(record, { manifest: manifest, error: null });
  } catch (err) {
    record.error = errorOf(err);
    for (const leftover of [partial, partialManifest]) fs.rmSync(leftover, { force: true });
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
  if (feature) record.feature = feature;
  record.seconds = Math.round(performance.now() - started) / 1000;
  out.emit(record);
}

async function main() {
  const [request, out] = requestAndOutput(parseArgs());
  const { kind } = request;
  const facts = versions();
  if (kind === "features-v3") {
    for (const feature of featureArrays().filter((f) => f.spec.format === 3)) {
      await writeOne(request, out, `feature-${feature.spec.id}`, facts,
        (folder, target) => writeFeature(feature, folder, target), feature.spec.id);
    }
    return 0;
  }
  await writeOne(request, out, kind, facts, async (folder, target) => {
    if (!(kind in CODECS)) throw new Error(`unknown fixture kind ${kind}`);
    const entries = await write(kind, folder);
    const variant = kind === "zarrita-v3" ? "zarrita defaults, zipped" : "zarrita, bytes codec and fill values, zipped";
    return [variant, entries, zipFolder(folder, target)];
  });
  return 0;
}

mainGuard(main);
