// Generates ../node-golden.json: what Node.js (V8) does with a few thousand
// JSON texts, numbers and key pairs, so that the Go tests can compare the
// canon package with JavaScript without needing Node at test time.
//
// Regenerate with:  node testdata/node/golden.mjs > testdata/node-golden.json
//
// Each text is decoded as a UTF-8 TextDecoder does (replacement per maximal
// subpart, byte order mark kept so that JSON.parse sees it), then given to
// JSON.parse. For the texts that parse, it records the canonical form (the
// protocol's canonicalizeJson: every object rebuilt with its keys inserted in
// Array.prototype.sort() order, then JSON.stringify), JSON.stringify(v),
// JSON.stringify(v, null, 2) and String(v) (null where String throws). All strings are stored as base64
// of their WTF-8 encoding, so lone surrogates survive.

import { existsSync, readdirSync, readFileSync } from 'node:fs';

// Deterministic PRNG (mulberry32).
let seed = Number(process.env.SEED || 0x5eed1e); // SEED= and MULT= (case counts) widen a one-off run
function rnd() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n) => Math.floor(rnd() * n);
const pick = (a) => a[int(a.length)];

// WTF-8 encoding of a JS string (UTF-16 code units; lone surrogates kept).
function wtf8(s) {
  const out = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Buffer.from(out);
}
const b64 = (s) => wtf8(s).toString('base64');

// The protocol's canonical form, written from its description (PROTOCOL.md §1).
function rebuild(v) {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(rebuild);
  const out = {};
  for (const k of Object.keys(v).sort()) out[k] = rebuild(v[k]);
  return out;
}
const canonical = (v) => JSON.stringify(rebuild(v));

// ---- JSON texts -----------------------------------------------------------

const keyPool = [
  '0', '1', '2', '9', '10', '01', '-1', '1.5', '4294967294', '4294967295', '4294967296', '99999999999',
  '__proto__', 'constructor', 'toString', 'a', 'b', 'B', 'Z', '_', 'aa', '', ' ', 'é', 'e\u0301',
  '\uffff', '\ue000', '\u{10000}', '\u{1f600}', '\u2028', 'key with spaces', 'ä', 'z', '\u00e9t\u00e9',
];
const rawStringPieces = [
  'abc', 'hello world', '<a href="x">', '&amp;', '/', 'é', '😀', '\u2028', '\u2029', '\u007f', '\uffff',
  '\ue000', '\u{10000}', '\u{10ffff}', '\ufeff', '\ufffd', 'ü', '中文', ' ',
];
const escapePieces = [
  '\\n', '\\"', '\\\\', '\\/', '\\b', '\\f', '\\r', '\\t', '\\u0000', '\\u001f', '\\u001F', '\\u0041',
  '\\u00e9', '\\u2028', '\\ud83d\\ude00', '\\uD83D\\uDE00', '\\ud800', '\\udc00', '\\ud800\\ud800',
  '\\udbff\\udfff', '\\udc00\\ud800', '\\ud800x', '\\uffff', '\\u007f', '\\u0008', '\\u000c',
];
const invalidBytes = [
  [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xc0, 0xaf], [0xff], [0x80], [0xbf, 0x80],
  [0xf4, 0x90, 0x80, 0x80], [0xe0, 0x80, 0x80], [0xc2], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xed, 0xbf, 0xbf],
  [0xf0, 0x90], [0xe1, 0x80, 0xe2, 0x82, 0xac],
];
const numberPieces = [
  '0', '-0', '1', '-1', '1.0', '100.0', '2.50', '1e21', '1E21', '1e+21', '1e-7', '1e-6', '0.000001',
  '0.0000001', '123456789012345680000', '12345678901234567890', '5e-324', '2e-324', '1e400', '-1e400',
  '1e-400', '-1e-400', '0.1', '0.30000000000000004', '1.7976931348623157e308', '1.7976931348623159e308',
  '9007199254740993', '4.35', '1e0', '0e5', '-0.0', '123.456e-2', '1E+2', '1e-0', '999999999999999999999',
  '0.1e1', '100e-5',
];

function str(out) {
  out.push('"');
  const n = int(5);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.35) out.push(pick(rawStringPieces));
    else if (r < 0.75) out.push(pick(escapePieces));
    else if (r < 0.85) out.push(invalidBytes[int(invalidBytes.length)]);
    else out.push(String.fromCharCode(0x20 + int(95)).replace(/["\\]/, 'q'));
  }
  out.push('"');
}

function key(out) {
  if (rnd() < 0.7) {
    out.push(JSON.stringify(pick(keyPool)));
  } else {
    str(out);
  }
}

function ws(out) {
  if (rnd() < 0.7) return;
  const n = 1 + int(3);
  for (let i = 0; i < n; i++) out.push(pick([' ', '\t', '\n', '\r']));
}

function value(out, depth) {
  const r = rnd();
  if (depth < 4 && r < 0.25) {
    out.push('{');
    ws(out);
    const n = int(7);
    for (let i = 0; i < n; i++) {
      if (i > 0) {
        out.push(',');
        ws(out);
      }
      key(out);
      ws(out);
      out.push(':');
      ws(out);
      value(out, depth + 1);
      ws(out);
    }
    out.push('}');
  } else if (depth < 4 && r < 0.4) {
    out.push('[');
    ws(out);
    const n = int(5);
    for (let i = 0; i < n; i++) {
      if (i > 0) {
        out.push(',');
        ws(out);
      }
      value(out, depth + 1);
      ws(out);
    }
    out.push(']');
  } else if (r < 0.65) {
    str(out);
  } else if (r < 0.9) {
    out.push(rnd() < 0.5 ? pick(numberPieces) : String(int(1e6) * (rnd() < 0.5 ? -1 : 1) / Math.pow(10, int(8))));
  } else {
    out.push(pick(['true', 'false', 'null']));
  }
}

function toBytes(parts) {
  const bufs = parts.map((p) => (typeof p === 'string' ? wtf8(p) : Buffer.from(p)));
  return Buffer.concat(bufs);
}

function mutate(buf) {
  const b = Buffer.from(buf);
  const r = rnd();
  if (b.length === 0) return Buffer.from('x');
  const at = int(b.length);
  if (r < 0.3) return Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
  if (r < 0.6) {
    const ins = Buffer.from(pick([',', ']', '}', '{', '[', ':', '"', '0', '-', '\\', ' ', '\f', '\u00a0', 'x', '\u0001']));
    return Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
  }
  if (r < 0.8) return b.subarray(0, at);
  b[at] = pick([0x2c, 0x5d, 0x7d, 0x22, 0x30, 0x2e, 0x65, 0x00, 0xff]);
  return b;
}

const handWritten = [
  '{"b":1.0,"a":{"z":null,"y":[3,"x",true,{"d":1,"c":2}]},"10":0,"9":-0,"Z":1e21,"_":0.000001,\n "aa":1e-7,"big":12345678901234567890,"s":"<a href=\\"x\\">&amp;\\t\\u0001\\ud83d\\ude00\\ud800",\n "__proto__":{"q":1},"e":2.50}',
  '{"a":1,"a":2}', '{"a":1,"b":2,"a":3}', '{"__proto__":1}', '{"__proto__":{"x":1},"y":2}', '{"__proto__":[1]}',
  '{"__proto__":null,"__proto__":5}', '[{"__proto__":{}}]',
  '{"4294967294":1,"4294967295":2,"4294967296":3,"0":4,"01":5,"-1":6,"1":7,"a":8}',
  '{"\u{10000}":1,"\uffff":2}', '{"\\u{10000}":1}', '{"\\uffff":1,"\\ud800\\udc00":2}', '{"\\ud800":1,"\\udc00":2,"\\ud800\\udc00":3,"\\ue000":4}',
  '{"B":1,"a":2,"é":3}', '"\\u2028\\u2029"', '"\\u007f<>&/"', '[]', '{}', '[[]]', '[{}]', ' \t\n\r1 \t\n\r',
  '"\\uDEAD\\uBEEF"', '"\\ud800\\u0041"', '[1,2,]', '{"a":1,}', '01', '-', '1.', '.5', '1e', '+1', 'NaN',
  'Infinity', '\ufeff{}', '{"a" 1}', "{'a':1}", '[1 2]', 'tru', 'nul', 'true false', '"\\x"', '"\\u12"',
  '"a\nb"', '"\t"', '', ' ', '{"a":1}}', '[', '{', '"', '\u00a01', '\f1', '\v1', '1\u2028', '[-0]', '-0',
  '[1e400,-1e400,1e-400,-1e-400]', '"\\/"', '{"":0,"\\u0000":1}', '{"1":1,"01":2,"1.0":3}',
];

// String(v), or null where it throws (an object with an own "toString" member
// that is not a function cannot be converted).
function stringOrThrow(v) {
  try {
    return b64(String(v));
  } catch {
    return null;
  }
}

const cases = [];
const dv = new DataView(new ArrayBuffer(8));
function addText(buf) {
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(buf);
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    cases.push({ in: buf.toString('base64'), ok: false });
    return;
  }
  cases.push({
    in: buf.toString('base64'),
    ok: true,
    canonical: b64(canonical(v)),
    json: b64(JSON.stringify(v)),
    indent: b64(JSON.stringify(v, null, 2)),
    string: stringOrThrow(v),
  });
}

for (const t of handWritten) addText(wtf8(t));
addText(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]));
addText(Buffer.from([0x22, 0xe2, 0x82, 0x41, 0x22]));
addText(Buffer.from([0x22, 0xf0, 0x9f, 0x98, 0x22]));
addText(Buffer.from([0x22, 0xf0, 0x9f, 0x98]));
addText(Buffer.from([0xef, 0xbb, 0xbf, 0x31]));
// The reference corpus documents, when the shared vectors are at hand.
const corpusDir = new URL('../../../../../../shared/vectors/reference-corpus/', import.meta.url);
for (let i = 0; existsSync(new URL(`${i}.json`, corpusDir)); i++) {
  addText(readFileSync(new URL(`${i}.json`, corpusDir)));
}
const tamperedDir = new URL('tampered/', corpusDir);
if (existsSync(tamperedDir)) {
  for (const name of readdirSync(tamperedDir).sort()) {
    if (name.endsWith('.json') && name !== 'notes.json') addText(readFileSync(new URL(name, tamperedDir)));
  }
}
// Long number literals, where correct rounding needs every digit: exact
// midpoints between adjacent doubles (ties to even) and midpoints followed by
// a far-away non-zero digit, written with hundreds of digits.
function midpoint(x) {
  dv.setFloat64(0, x);
  const bits = dv.getBigUint64(0);
  let exp = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  if (exp === 0) exp = 1;
  else mant |= 1n << 52n;
  // x = mant * 2^(exp-1075); the midpoint above it is (2 mant + 1) * 2^(exp-1076)
  const m = 2n * mant + 1n;
  const e2 = exp - 1076;
  if (e2 >= 0) return [(m << BigInt(e2)).toString(), 0];
  return [(m * 5n ** BigInt(-e2)).toString(), e2];
}
const longNumbers = [
  '1' + '0'.repeat(1000) + 'e-1000', '0.' + '0'.repeat(1000) + '1e1001', '-' + '9'.repeat(900),
  (2n ** 3000n).toString(), '1' + '0'.repeat(20000) + 'e-20000', '0.' + '0'.repeat(800) + '5e-1',
  '1e-99999999999999999999', '1e99999999999999999999', '-0.' + '0'.repeat(2000), '0e99999999999',
  '1' + '0'.repeat(799) + '.' + '0'.repeat(200) + '1', '4.9406564584124654' + '0'.repeat(900) + 'e-324',
];
for (const x of [1, 5e-324, 1e-310, Number.MAX_VALUE, 2 ** -1022, 0.1, 1e21, 123.456, 1e300]) {
  const [d, e] = midpoint(x);
  longNumbers.push(`${d}e${e}`, `${d}${'0'.repeat(850)}1e${e - 851}`, `-${d}e${e}`);
}
for (let i = 0; i < 20 * Number(process.env.MULT || 1); i++) {
  dv.setUint32(0, i < 10 ? int(0x00100000) : 0);
  dv.setUint32(4, int(4294967296));
  const [d, e] = midpoint(dv.getFloat64(0));
  longNumbers.push(`${d}e${e}`, `0.00${d}e${e + d.length + 2}`);
}
for (let i = 0; i < 60 * Number(process.env.MULT || 1); i++) {
  dv.setUint32(0, int(0x7ff00000));
  dv.setUint32(4, int(4294967296));
  const [d, e] = midpoint(dv.getFloat64(0));
  const k = int(900);
  longNumbers.push(`${d}e${e}`, `${d}${'0'.repeat(k)}1e${e - 1 - k}`);
}
for (const lit of longNumbers) addText(Buffer.from(lit));

for (let i = 0; i < 2000 * Number(process.env.MULT || 1); i++) {
  const parts = [];
  ws(parts);
  value(parts, 0);
  ws(parts);
  let buf = toBytes(parts);
  if (rnd() < 0.25) buf = mutate(buf);
  addText(buf);
}

// ---- numbers --------------------------------------------------------------

const numbers = [];
function addNumber(x) {
  dv.setFloat64(0, x);
  const bits = dv.getBigUint64(0).toString(16).padStart(16, '0');
  numbers.push({ bits, string: String(x), json: JSON.stringify(x) });
}
for (const x of [0, -0, NaN, Infinity, -Infinity, 1e21, 1e-7, 5e-324, 123456789012345680000, 0.1 + 0.2, 1.5e300,
  100, 12345678901234567890, 1e21 - 65536, 999999999999999900000, 1e-6, 0.000001234, 9.999999999999999e-7,
  2 ** 53, 2 ** 53 + 2, -(2 ** 53), 2 ** 63, 2 ** 64, Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE,
  Number.EPSILON, 1 / 3, -1 / 3, 4.35, 0.5, 123e-20, 1e100, 1.7976931348623157e308]) {
  addNumber(x);
}
for (let i = 0; i < 4000 * Number(process.env.MULT || 1); i++) {
  const r = rnd();
  if (r < 0.5) {
    dv.setUint32(0, int(4294967296));
    dv.setUint32(4, int(4294967296));
    addNumber(dv.getFloat64(0));
  } else if (r < 0.75) {
    addNumber((int(2 ** 31) - 2 ** 30) * Math.pow(10, int(40) - 20));
  } else {
    addNumber(int(1e9) / Math.pow(10, int(30)));
  }
}

// ---- key comparisons -------------------------------------------------------

const keys = [];
const keyChars = ['a', 'B', 'é', '\u00ff', '\u0100', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\uffff', '\u{10000}',
  '\u{1f600}', '\u{10ffff}', '\ud800', '\udc00', '\udbff', '\udfff', '0', '1', '\u0000', '~', '\u007f'];
function randomKey() {
  let s = '';
  const n = int(4);
  for (let i = 0; i < n; i++) s += pick(keyChars);
  return s;
}
for (let i = 0; i < 3000 * Number(process.env.MULT || 1); i++) {
  const a = randomKey();
  const b = rnd() < 0.3 ? a + randomKey() : randomKey();
  keys.push({ a: b64(a), b: b64(b), cmp: a < b ? -1 : a > b ? 1 : 0 });
}

process.stdout.write(JSON.stringify({ node: process.version, texts: cases, numbers, keys }, null, 0) + '\n');
