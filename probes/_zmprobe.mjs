// The probe protocol for Node probes, as _zmprobe.py has it for Python ones: a request in, JSON lines out,
// and checksums of the C-order, little-endian bytes of what was read. Node's standard library only.
//
//   node PROBE.mjs --list-methods
//   node PROBE.mjs --request REQUEST.json --out RECORDS.jsonl
//
// Also here: the reference arrays every writer writes (reference_arrays.json, the values from the same
// xorshift32 stream as _writer.py), and the least of the zip format a probe needs: the member names of a
// zip (its central directory) and a zip of a folder, every member STORED.

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));

export function parseArgs(argv = process.argv.slice(2)) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i].replace(/^--/, "");
    if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) args[flag] = argv[++i];
    else args[flag] = true;
  }
  return args;
}

export class Output {
  constructor(file) {
    this.file = file;
  }

  // Flushed to disk at once, so that a probe killed later loses no record.
  emit(record) {
    const fd = fs.openSync(this.file, "a");
    try {
      fs.writeSync(fd, JSON.stringify(sortKeys(record)) + "\n");
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]));
  }
  return typeof value === "bigint" ? Number(value) : value;
}

export function requestAndOutput(args) {
  return [JSON.parse(fs.readFileSync(args.request, "utf8")), new Output(args.out)];
}

export function errorOf(err) {
  const type = (err && (err.constructor?.name || err.name)) || typeof err;
  return {
    type: type,
    message: String(err && err.message !== undefined ? err.message : err).slice(0, 2000),
    traceback: String((err && err.stack) || "").slice(-2000),
  };
}

// The installed version of an npm package, from the package.json that Node would load.
export function versionOf(name) {
  try {
    const file = path.join(HERE, "node_modules", ...name.split("/"), "package.json");
    return JSON.parse(fs.readFileSync(file, "utf8")).version;
  } catch {
    return null;
  }
}

const TYPED = {
  int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array,
  uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array, float32: Float32Array,
  float64: Float64Array, bool: Uint8Array,
};

// A chunk ({data, shape, stride}) copied into C order; no stride means C order already.
function cOrder(chunk) {
  const { data, shape, stride } = chunk;
  const size = shape.reduce((a, b) => a * b, 1);
  if (!stride) return data.subarray(0, size);
  let contiguous = true;
  for (let i = shape.length - 1, expect = 1; i >= 0; expect *= shape[i], i--) {
    if (shape[i] > 1 && stride[i] !== expect) contiguous = false;
  }
  if (contiguous) return data.subarray(0, size);
  const out = new data.constructor(size);
  const index = new Array(shape.length).fill(0);
  for (let n = 0; n < size; n++) {
    let offset = 0;
    for (let d = 0; d < shape.length; d++) offset += index[d] * stride[d];
    out[n] = data[offset];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

// SHA-256 of the decoded values in C order and little-endian, brought to the manifest's dtype first
// (as numpy's astype would); what was observed is kept beside the digest.
export function checksum(chunk, dtype, expected) {
  const observed = { shape: [...chunk.shape], dtype: dtype };
  let values = cOrder(chunk);
  const wanted = expected && expected.dtype;
  if (wanted && wanted !== dtype && TYPED[wanted]) {
    const big = values instanceof BigInt64Array || values instanceof BigUint64Array;
    const toBig = TYPED[wanted] === BigInt64Array || TYPED[wanted] === BigUint64Array;
    values = TYPED[wanted].from(values, big === toBig ? (v) => v : toBig ? (v) => BigInt(v) : (v) => Number(v));
  }
  if (values instanceof Uint8Array && dtype === "bool") values = values.map((v) => (v ? 1 : 0));
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error("a big-endian host: bytes need a swap");
  return [createHash("sha256").update(bytes).digest("hex"), observed];
}

// -- the reference arrays ------------------------------------------------------------------------------

const INT_RANGES = { int32: [-1000000, 1000000], int16: [-10000, 10000], uint8: [0, 255] };

function xorshift32(name, count) {
  let seed = 0;
  for (const ch of name) seed += ch.codePointAt(0);
  let state = (Number((BigInt(seed) * 2654435761n + 1n) & 0xffffffffn) >>> 0) || 1;
  const out = new Array(count);
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = state;
  }
  return out;
}

function referenceData(name, shape, dtype) {
  const count = shape.reduce((a, b) => a * b, 1);
  const values = xorshift32(name, count);
  const out = new TYPED[dtype](count);
  if (dtype.startsWith("float")) {
    for (let i = 0; i < count; i++) out[i] = (values[i] / 4294967296) * 40 - 10;
  } else {
    const [lo, hi] = INT_RANGES[dtype];
    for (let i = 0; i < count; i++) out[i] = (values[i] % (hi - lo + 1)) + lo;
  }
  return out;
}

function strides(shape) {
  const out = new Array(shape.length);
  for (let i = shape.length - 1, s = 1; i >= 0; s *= shape[i], i--) out[i] = s;
  return out;
}

// The region [start, stop) per axis of a C-order array, as its own C-order array.
function region(data, shape, bounds) {
  const sub = bounds.map(([a, b]) => b - a);
  const size = sub.reduce((a, b) => a * b, 1);
  const out = new data.constructor(size);
  const st = strides(shape);
  const index = new Array(shape.length).fill(0);
  for (let n = 0; n < size; n++) {
    let offset = 0;
    for (let d = 0; d < shape.length; d++) offset += (bounds[d][0] + index[d]) * st[d];
    out[n] = data[offset];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < sub[d]) break;
      index[d] = 0;
    }
  }
  return { data: out, shape: sub, stride: strides(sub) };
}

// Each reference array: its whole data (fill value where nothing is written), and the region a writer writes.
export function referenceArrays() {
  const table = JSON.parse(fs.readFileSync(path.join(HERE, "reference_arrays.json"), "utf8")).arrays;
  return table.map((spec) => {
    const full = referenceData(spec.name, spec.shape, spec.dtype);
    const bounds = spec.written || spec.shape.map((n) => [0, n]);
    const block = region(full, spec.shape, bounds);
    let data = full;
    if (spec.written) {
      data = new full.constructor(full.length).fill(spec.fill_value);
      const st = strides(spec.shape);
      const index = new Array(spec.shape.length).fill(0);
      for (let n = 0; n < block.data.length; n++) {
        let offset = 0;
        for (let d = 0; d < index.length; d++) offset += (bounds[d][0] + index[d]) * st[d];
        data[offset] = block.data[n];
        for (let d = index.length - 1; d >= 0; d--) {
          if (++index[d] < block.shape[d]) break;
          index[d] = 0;
        }
      }
    }
    return { ...spec, data, bounds, block, leaf: spec.name.split("/").pop() };
  });
}

// -- zip ----------------------------------------------------------------------------------------------

// The member names of a zip, read from its central directory (ZIP64 too).
export function zipNames(file) {
  const buf = fs.readFileSync(file);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${file}: no end of central directory; not a zip`);
  let count = buf.readUInt16LE(eocd + 10);
  let offset = buf.readUInt32LE(eocd + 16);
  if (offset === 0xffffffff || count === 0xffff) {
    const locator = eocd - 20;
    if (locator >= 0 && buf.readUInt32LE(locator) === 0x07064b50) {
      const record = Number(buf.readBigUInt64LE(locator + 8));
      count = Number(buf.readBigUInt64LE(record + 32));
      offset = Number(buf.readBigUInt64LE(record + 48));
    }
  }
  const names = [];
  for (let n = 0, at = offset; n < count; n++) {
    if (buf.readUInt32LE(at) !== 0x02014b50) throw new Error(`${file}: a broken central directory`);
    const nameLength = buf.readUInt16LE(at + 28);
    names.push(buf.toString("utf8", at + 46, at + 46 + nameLength));
    at += 46 + nameLength + buf.readUInt16LE(at + 30) + buf.readUInt16LE(at + 32);
  }
  return names;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function filesOf(folder, prefix = "") {
  const out = [];
  for (const entry of fs.readdirSync(path.join(folder, prefix), { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : 1)) {
    const name = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...filesOf(folder, name));
    else out.push(name);
  }
  return out;
}

// 1980-01-01, the earliest date a zip can hold, for every member: a fixture's bytes do not depend on the clock.
const DOS_DATE = (1 << 5) | 1;

// Zip every file below `folder` into `target`, STORED, as _packing.py's "stored" does.
export function zipFolder(folder, target) {
  const locals = [];
  const central = [];
  let offset = 0;
  for (const name of filesOf(folder)) {
    const data = fs.readFileSync(path.join(folder, name));
    const nameBytes = Buffer.from(name, "utf8");
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // names are UTF-8
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    locals.push(local, nameBytes, data);
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(20, 4);
    header.writeUInt16LE(20, 6);
    header.writeUInt16LE(0x0800, 8);
    header.writeUInt16LE(DOS_DATE, 14);
    header.writeUInt32LE(crc, 16);
    header.writeUInt32LE(data.length, 20);
    header.writeUInt32LE(data.length, 24);
    header.writeUInt16LE(nameBytes.length, 28);
    header.writeUInt32LE(offset, 42);
    central.push(header, nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const centralSize = central.reduce((a, b) => a + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(central.length / 2, 8);
  end.writeUInt16LE(central.length / 2, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  fs.writeFileSync(target, Buffer.concat([...locals, ...central, end]));
  return { packed: "stored", root: "" };
}

// Every failure becomes a record or a stack on stderr, and exit 3, as main_guard does for Python probes.
export async function mainGuard(fn) {
  try {
    process.exitCode = (await fn()) || 0;
  } catch (err) {
    process.stderr.write(String((err && err.stack) || err) + "\n");
    process.exitCode = 3;
  }
}
