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

  // Written through at once, so that a probe killed later loses no record. Not fsynced: the host reads the file
  // and deletes it as soon as the attempt ends.
  emit(record) {
    const fd = fs.openSync(this.file, "a");
    try {
      fs.writeSync(fd, JSON.stringify(sortKeys(record)) + "\n");
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

// A local zip as the Blob @zarrita/storage's ZipFileStore reads: backed by the file where Node has
// fs.openAsBlob (19.8 and later), so that a read fetches the byte ranges it needs; else, or where the zip is no
// larger than `inMemoryBytes`, the whole file in memory. With the expression that made it, for the record's call.
export async function zipBlob(file, inMemoryBytes = 0) {
  const name = JSON.stringify(file);
  if (typeof fs.openAsBlob === "function" && fs.statSync(file).size > inMemoryBytes) {
    return [await fs.openAsBlob(file), `await fs.openAsBlob(${name})`];
  }
  return [new Blob([fs.readFileSync(file)]), `new Blob([fs.readFileSync(${name})])`];
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

// A chunk ({data, shape, stride}) copied into C order; no stride means C order already. The data is a typed
// array, a plain Array (strings), or zarrita's BoolArray (read through get()).
function cOrder(chunk) {
  const { shape, stride } = chunk;
  const data = ArrayBuffer.isView(chunk.data) || Array.isArray(chunk.data) ? chunk.data : iterate(chunk.data);
  const size = shape.reduce((a, b) => a * b, 1);
  const head = (n) => (data.subarray ? data.subarray(0, n) : data.slice(0, n));
  if (!stride) return head(size);
  let contiguous = true;
  for (let i = shape.length - 1, expect = 1; i >= 0; expect *= shape[i], i--) {
    if (shape[i] > 1 && stride[i] !== expect) contiguous = false;
  }
  if (contiguous) return head(size);
  const out = ArrayBuffer.isView(data) ? new data.constructor(size) : new Array(size);
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

// SHA-256 of the decoded values in their canonical form, brought to the manifest's dtype first (as numpy's astype
// would); what was observed is kept beside the digest. The form is _zmprobe.py's canonical_bytes: numbers
// little-endian; bool one byte 0/1; "string" the UTF-8 of each value joined by NUL; datetime64 the int64 ticks;
// complex the (real, imaginary) pairs; every NaN the one quiet NaN with the sign bit clear.
export function checksum(chunk, dtype, expected) {
  const observed = { shape: [...chunk.shape], dtype: dtype };
  const wanted = (expected && expected.dtype) || dtype;
  // Complex values come as interleaved (real, imaginary) floats: one more axis of two.
  if (wanted.startsWith("complex") && chunk.data.length === 2 * chunk.shape.reduce((a, b) => a * b, 1)) {
    chunk = { data: chunk.data, shape: [...chunk.shape, 2], stride: chunk.stride && [...chunk.stride.map((s) => 2 * s), 1] };
  }
  return [createHash("sha256").update(canonicalBytes(cOrder(chunk), wanted)).digest("hex"), observed];
}

const FLOAT_PARTS = { float16: "float16", float32: Float32Array, float64: Float64Array, complex64: Float32Array,
  complex128: Float64Array };

export function canonicalBytes(values, dtype) {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error("a big-endian host: bytes need a swap");
  if (dtype === "string") {
    const texts = Array.from(values, (v) => (v == null ? "" : v instanceof Uint8Array ? Buffer.from(v).toString("utf8")
      : String(v)));
    return Buffer.from(texts.join("\0"), "utf8");
  }
  if (dtype === "bool") return Buffer.from(Uint8Array.from(iterate(values), (v) => (v ? 1 : 0)));
  if (dtype.startsWith("datetime64")) return bytesOf(BigInt64Array.from(iterate(values), (v) => BigInt(v)));
  if (dtype === "float16") {
    // Half floats arrive as their bits (a Uint16Array) or as numbers (a Float16Array, or floats to round).
    const bits = values instanceof Uint16Array ? Uint16Array.from(values)
      : Uint16Array.from(iterate(values), (v) => halfBits(Number(v)));
    for (let i = 0; i < bits.length; i++) if ((bits[i] & 0x7c00) === 0x7c00 && bits[i] & 0x3ff) bits[i] = 0x7e00;
    return bytesOf(bits);
  }
  if (FLOAT_PARTS[dtype]) {
    const out = FLOAT_PARTS[dtype].from(iterate(values), Number);
    for (let i = 0; i < out.length; i++) if (Number.isNaN(out[i])) out[i] = NaN;
    return bytesOf(out);
  }
  if (!TYPED[dtype]) throw new Error(`no canonical form for dtype ${dtype}`);
  const toBig = TYPED[dtype] === BigInt64Array || TYPED[dtype] === BigUint64Array;
  return bytesOf(TYPED[dtype].from(iterate(values), toBig ? (v) => BigInt(v) : (v) => Number(v)));
}

// Values of a typed array, a plain Array, or zarrita's BoolArray (which has get() and a length, no indexing).
function iterate(values) {
  if (typeof values.get === "function" && !ArrayBuffer.isView(values)) {
    return Array.from({ length: values.length }, (_, i) => values.get(i));
  }
  return values;
}

function bytesOf(typed) {
  return Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);
}

// IEEE 754 half-precision bits of a number, rounded to nearest, ties to even.
export function halfBits(value) {
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
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

// The whole array as written: `fill` everywhere but the region `bounds`, which holds `block`.
function filledAround(full, shape, bounds, block, fill) {
  const data = new full.constructor(full.length).fill(fill);
  const st = strides(shape);
  const index = new Array(shape.length).fill(0);
  for (let n = 0; n < block.data.length; n++) {
    let offset = 0;
    for (let d = 0; d < index.length; d++) offset += (bounds[d][0] + index[d]) * st[d];
    data[offset] = block.data[n];
    for (let d = index.length - 1; d >= 0; d--) {
      if (++index[d] < block.shape[d]) break;
      index[d] = 0;
    }
  }
  return data;
}

// Each reference array: its whole data (fill value where nothing is written), and the region a writer writes.
export function referenceArrays() {
  const table = JSON.parse(fs.readFileSync(path.join(HERE, "reference_arrays.json"), "utf8")).arrays;
  return table.map((spec) => {
    const full = referenceData(spec.name, spec.shape, spec.dtype);
    const bounds = spec.written || spec.shape.map((n) => [0, n]);
    const block = region(full, spec.shape, bounds);
    const data = spec.written ? filledAround(full, spec.shape, bounds, block, spec.fill_value) : full;
    return { ...spec, data, bounds, block, leaf: spec.name.split("/").pop() };
  });
}

// -- the feature catalogue -----------------------------------------------------------------------------

// As _features.py has them: integer ranges, and the characters of the string features.
const FEATURE_RANGES = { int8: [-100, 100], uint8: [0, 255], int16: [-10000, 10000], uint16: [0, 60000],
  int32: [-1000000, 1000000], int64: [-1000000, 1000000], uint64: [0, 1000000] };
const ALPHABET = ["a", "b", "c", "x", "y", "z", "A", "Z", "0", "9", " ", "\u00e9", "\u00df", "\u20ac", "\u{1F600}",
  "\u4e2d"];
const LIMITS = { int64: [-(2n ** 63n), 2n ** 63n - 1n], uint64: [0n, 2n ** 64n - 1n], int8: [-128, 127],
  uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535], int32: [-2147483648, 2147483647] };
const SPECIAL = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };

export function featureFill(spec) {
  const value = spec.fill_value;
  return typeof value === "string" && value in SPECIAL ? SPECIAL[value] : value;
}

// Every value of a feature's array as if all of it were written, C order: a typed array, or an Array of strings.
function featureValues(spec) {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const { dtype } = spec;
  const floats = (stream) => stream.map((v) => (v / 4294967296) * 40 - 10);
  if (dtype === "string") {
    return xorshift32(spec.id, count).map((v) =>
      Array.from({ length: v % 7 }, (_, k) => ALPHABET[(v >>> (3 + 4 * k)) & 15]).join(""));
  }
  if (dtype.startsWith("complex")) return (dtype === "complex64" ? Float32Array : Float64Array).from(
    floats(xorshift32(spec.id, 2 * count)));
  const stream = xorshift32(spec.id, count);
  if (dtype === "bool") return Uint8Array.from(stream, (v) => v & 1);
  if (dtype.startsWith("datetime64")) return BigInt64Array.from(stream, (v) => BigInt(v % 2000000000));
  if (dtype === "float16") return Float64Array.from(stream, (v) => ((v % 4096) - 2048) / 16);
  if (dtype.startsWith("float")) {
    const data = floats(stream);
    if (spec.values === "specials") {
      data.forEach((_, i) => {
        if (i % 7 === 3) data[i] = NaN;
        if (i % 11 === 5) data[i] = Infinity;
        if (i % 13 === 6) data[i] = -Infinity;
      });
    }
    return TYPED[dtype].from(data);
  }
  const [lo, hi] = FEATURE_RANGES[dtype];
  const big = dtype.endsWith("64");
  const out = TYPED[dtype].from(stream, (v) => (big ? BigInt((v % (hi - lo + 1)) + lo) : (v % (hi - lo + 1)) + lo));
  if (spec.values === "extremes" && count >= 4) {
    const [min, max] = LIMITS[dtype];
    const one = big ? 1n : 1;
    [out[0], out[1], out[count - 2], out[count - 1]] = [min, max, min + one, max - one];
  }
  return out;
}

// Each feature of the catalogue: its whole data (the fill value where nothing is written) and the region written.
export function featureArrays() {
  const table = JSON.parse(fs.readFileSync(path.join(HERE, "features.json"), "utf8")).features;
  return table.map((spec) => {
    const full = featureValues(spec);
    const bounds = spec.written || spec.shape.map((n) => [0, n]);
    const block = spec.dtype.startsWith("complex") ? { data: full, shape: spec.shape, stride: null }
      : region(full, spec.shape, bounds);
    const fill = featureFill(spec);
    const data = spec.written ? filledAround(full, spec.shape, bounds, block,
      typeof full[0] === "bigint" ? BigInt(fill) : fill) : full;
    return { spec, data, bounds, block };
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

// Zip every file below `folder` into `target`, STORED, as _packing.py's "stored" does. `stale` is [member name,
// bytes]: an older copy of a metadata member, zipped ahead of the current one (as _features.py's pack_feature).
export function zipFolder(folder, target, stale = null) {
  const locals = [];
  const central = [];
  let offset = 0;
  const members = filesOf(folder).map((name) => [name, null]);
  if (stale) members.unshift(stale);
  for (const [name, bytes] of members) {
    const data = bytes || fs.readFileSync(path.join(folder, name));
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
