// Generates reference-cases.json: CCL inputs with the outputs of the
// TypeScript reference (@stele/ccl at commit 1a5cb58), for the differential
// tests in reference_test.go.
//
// Usage: compile the reference's packages/ccl/src/*.ts to CommonJS (for
// example with `tsc --target es2022 --module commonjs --outDir out *.ts`),
// then
//
//	node gen-reference-cases.cjs path/to/out/index.js > reference-cases.json
//
// The generator is deterministic (seeded PRNG). SEED=n changes the seed and
// MULT=k multiplies every case count, for a wider one-off comparison (write
// to a scratch copy of reference-cases.json and run the tests against it);
// without them it writes the committed file.
'use strict';
const ccl = require(require('path').resolve(process.argv[2]));

let seed = Number(process.env.SEED || 0x5eed1234);
function rnd() { // mulberry32
  seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const chance = (p) => rnd() < p;
const int = (n) => Math.floor(rnd() * n);

// ---------- policy generation ----------
const actSegs = ['read', 'write', 'file', 'api', 'call', 'Read', 'x', '*', '**', 'a_b', 'net2'];
const resSegs = ['data', 'secret', 'public', 'x', '*', '**', '', 'Data', 'v1', 'a b', "it's", 'é', '😀'];
// (constructor and __proto__ cannot be written as field segments: they lex
// as bogus keywords.)
const fields = ['role', 'user.role', 'user.name', 'amount', 'tags', 'tags.length', 'flag', 'env', 'count',
  'missing', 'user.missing.deep', 'name.length', 'toString', 'user.valueOf', 'tags.map', 'tags.toString', 'tags.join',
  'nul', 'obj', 'hasOwnProperty', 'valueOf', 'role.length', 'user.isPrototypeOf', 'tags.at', 'tags.x'];
const ops = ['=', '!=', '<', '>', '<=', '>=', 'contains', 'not_contains', 'in', 'not_in', 'matches', 'starts_with', 'ends_with'];
const strVals = ["'admin'", "'USD'", "''", "'a'", "'prod'", "'5'", "'true'", "'null'", "'[object Object]'", "'function toString() { [native code] }'",
  "'function Object() { [native code] }'", "'function Array() { [native code] }'", "'function map() { [native code] }'", "'prod,dev'", "'alice'", "'😀'", "'é'"];
const regexVals = ["'^a'", "'^\\d+$'", "'.'", "'^.$'", "'a|b'", "'[a-z]+'", "'(?i)a'", "'\\e'", "'^\\w+$'", "'\\s'", "'[]'", "'[^]'", "'('",
  "'^[\\u0000-\\uffff]$'", "'\\uD83D'", "'^..$'", "'\\p{L}'", "'a\\Z'", "'(?<n>x)\\k<n>'", "'\\x4'", "'\\u12'", "'ad.in'", "'\\bprod\\b'", "'$'"];
function value() {
  switch (int(6)) {
    case 0: return String(int(200));
    case 1: return pick(['true', 'false', 'TRUE', 'admin', 'null']);
    case 2: { const n = int(4); const a = []; for (let i = 0; i < n; i++) a.push(pick(["'USD'", "'prod'", '5', 'true', 'x', "'null'", "''", "'[object Object]'", "'function toString() { [native code] }'", "'prod,dev'", "'1,2'"])); return '[' + a.join(', ') + ']'; }
    default: return pick(strVals);
  }
}
function comparison() {
  const op = pick(ops);
  const v = op === 'matches' && chance(0.8) ? pick(regexVals) : value();
  return pick(fields) + ' ' + op + ' ' + v;
}
function condition(d) {
  if (d > 2 || chance(0.45)) return comparison();
  switch (int(4)) {
    case 0: return 'not ' + condition(d + 1);
    case 1: return '(' + condition(d + 1) + ')';
    case 2: return condition(d + 1) + ' and ' + condition(d + 1);
    default: return condition(d + 1) + ' or ' + condition(d + 1);
  }
}
function action() {
  if (chance(0.1)) return '**';
  const n = 1 + int(3); const a = [];
  for (let i = 0; i < n; i++) a.push(pick(actSegs.filter((s) => i > 0 || s !== '**')));
  return a.join('.');
}
function resourcePattern() {
  if (chance(0.1)) return pick(['*', '**', "'/'", "''", 'ident']);
  const n = int(4); const a = [];
  for (let i = 0; i < n; i++) a.push(pick(resSegs));
  let r = (chance(0.8) ? '/' : '') + a.join('/') + (chance(0.1) ? '/' : '');
  if (r === '') r = '/';
  return chance(0.85) || r.includes(' ') ? "'" + r.replace(/'/g, '') + "'" : r;
}
function statement() {
  const sev = chance(0.3) ? ' severity ' + pick(['critical', 'HIGH', 'medium', 'low', 'high']) : '';
  if (chance(0.12)) {
    return 'limit ' + action() + ' ' + int(300) + ' per ' + int(5) + ' ' + pick(['seconds', 'minute', 'Hours', 'day', 'days', 'second']) + sev;
  }
  const kw = pick(['permit', 'permit', 'deny', 'deny', 'require', 'PERMIT', 'Deny']);
  const cond = chance(0.4) ? ' when ' + condition(0) : '';
  return kw + ' ' + action() + ' on ' + resourcePattern() + cond + sev;
}
function policy(n) {
  const lines = [];
  for (let i = 0; i < n; i++) {
    let s = statement();
    if (chance(0.1)) s += ' # comment';
    lines.push(s);
    if (chance(0.1)) lines.push(chance(0.5) ? '' : '# only a comment');
  }
  return lines.join(chance(0.1) ? '\r\n' : '\n');
}

// ---------- noisy sources for the lexer and parser ----------
const noise = ['permit', 'deny', 'require', 'limit', 'on', 'when', 'severity', 'per', 'seconds', 'and', 'or', 'not', 'read', 'a.b',
  "'/x'", '/p/q', '*', '**', '***', '.', '(', ')', '[', ']', ',', '=', '==', '!=', '!', '<', '<=', '>', '>=', 'in', 'IN', 'matches',
  '5', '0.5', '-5', '2fa', 'file-read', '"/data/**"', 'café', '😀', '\n', '\n\n', '#c\n', 'constructor', '__PROTO__', 'Constructor',
  'true', 'critical', 'extreme', "'unterminated", 'x.y.z', '@', '{', '}', '\t', 'high', "'a\nb'", '99999999999999999999999', 'day'];
function noisy() {
  const n = 1 + int(12); const a = [];
  for (let i = 0; i < n; i++) a.push(pick(noise));
  return a.join(pick([' ', ' ', '', '  ']));
}

const handwritten = [
  "permit file-read on \"/data/**\"", 'permit read on /data/**', "permit read on '/a' deny write on '/b'",
  "permit read on '/a' extra", "price > -5", "permit x on '/a' when score >= 0.5", "permit x on '/a' when 2fa = true",
  "permit read on \"/data/**\"", "permit café on '/x'", 'permit read on /it\'s/#(x),y', '   ', '', '\u00a0\u2028\ufeff', '\v', '\u0085',
  '# only comments\n# more', '\n\n# c\n', 'permit', 'permit read', 'permit read on', 'permit read on \'/a\' when', "permit read on '/a' when x",
  "permit read on '/a' when x =", "permit read on '/a' when x = [", "permit read on '/a' when x = ['a',", "permit read on '/a' when x = ['a' 'b']",
  "permit read on '/a' when (x = 1", "permit read on '/a' when x. = 1", "permit read on '/a' when x.on = 1", "permit read on '/a' when on = 1",
  "permit read on '/a' severity", "permit read on '/a' severity extreme", "permit read on '/a' severity 5", "permit read on '/a' severity HIGH",
  'limit', 'limit api', 'limit api x', 'limit api 5', 'limit api 5 per', 'limit api 5 per x', 'limit api 5 per 1', 'limit api 5 per 1 fortnight',
  'limit api 5 per 1 hours severity low', 'limit api.** 100 per 2 minutes', 'limit ** 1 per 1 day', 'permit read. on \'/a\'', 'permit read.on on \'/a\'',
  'permit read.* on \'/a\'', 'permit *.** on *', 'permit ** on **', 'permit **.x on \'/a\'', 'permit per on \'/a\'', 'permit read on on',
  'permit read on per', 'permit read on \'/a\' when x in [1, true, x, \'y\']', 'permit read on \'/a\' when x in []',
  'permit read on \'/a\' when not not x = 1', 'permit read on \'/a\' when (a = 1 and b = 2) and c = 3', 'permit read on \'/a\' when a = 1 or (b = 2 or c = 3)',
  'permit read on \'/a\' when not (a = 1 and b = 2)', 'permit read on \'/a\' when a = 1 and b = 2 or c = 3 and not d = 4',
  'permit read on \'/a\' when x == 1', 'permit read on \'/a\' when x = TRUE', 'permit read on \'/a\' when x = 00012',
  'permit read on \'/a\' when x = 123456789012345678901234567890', 'limit a 123456789012345678901234567890 per 99999999999999999999 days',
  'permit read on \'/a\' when x matches \'^\\d+$\'', 'deny constructor on \'/a\'', 'permit read on constructor', 'permit read on \'/a\' when constructor = 1',
  'permit read on \'/a\' when x = __proto__', 'permit\tread\ton\t\'/a\'', 'permit read on \'/a\'\r\ndeny read on \'/b\'', 'PERMIT READ ON \'/A\'',
  'permit read on \'/a\'\n\n\n  deny x on \'/b\' # tail', "permit read on '/a\nb' when x = 'c\nd'\ndeny y on '/z' extra",
  '😀😀 permit x on y z', 'é\npermit x on y\n   é ) ', "permit x on '/a' when x = 'unterminated", 'permit x on /a/b\'c when d = 1',
  'permit a.b.c.d.e.f on /1/2/3/4/5/6/7/8', 'permit x on \'/a\' when a.b.c.d.e = 1', 'permit x on \'/a\' when a = 1 severity critical extra',
  'deny x on \'/a\' severity critical when a = 1', 'require audit on \'/s/**\' when a = 1 severity low', 'permit read on \'/a\' when x <= 5 and y >= 6 and z < 7 and w > 8',
  'permit x on \'/a\' when x not_in [a] and y not_contains \'q\' and z starts_with \'p\' and w ends_with \'s\'',
];

const cases = { parse: [], policies: [], evaluate: [], regexp: null, merge: [], narrow: [], match: [], specificity: [], subset: [], ratelimit: [] };

function statementJSON(doc) { return doc.statements; }

function parseCase(src) {
  try {
    const doc = ccl.parse(src);
    cases.parse.push({ src, ok: true, statements: statementJSON(doc) });
    return doc;
  } catch (e) {
    if (!(e instanceof ccl.CCLSyntaxError)) throw e;
    cases.parse.push({ src, ok: false, message: e.message, line: e.line, column: e.column });
    return null;
  }
}

for (const s of handwritten) parseCase(s);
for (let i = 0; i < 700 * Number(process.env.MULT || 1); i++) parseCase(noisy());
const policies = [];
for (let i = 0; i < 320 * Number(process.env.MULT || 1); i++) {
  const src = policy(1 + int(6));
  const doc = parseCase(src);
  if (doc) {
    policies.push({ src, doc, index: cases.policies.length });
    cases.policies.push({ src, serialized: ccl.serialize(doc) });
  }
}

// ---------- evaluation ----------
function context() {
  const c = {};
  if (chance(0.7)) c.role = pick(['admin', 'user', 'ADMIN', 5, true, null, ['admin']]);
  if (chance(0.7)) c.user = pick([{ role: 'admin', name: 'alice' }, { role: 'user', name: 'bob' }, null, 'str', { name: 5 }, { constructor: 'own' }]);
  if (chance(0.6)) c.amount = pick([5, 500, 1000, 1000.5, -3, '500', 0, null]);
  if (chance(0.6)) c.tags = pick([['prod', 'dev'], [], ['USD', 5, true, null], 'prod', [1, 2], [['prod'], 'x'], [{ a: 1 }]]);
  if (chance(0.5)) c.flag = pick([true, false, 'true', 1]);
  if (chance(0.5)) c.env = pick(['prod', 'production', 'dev', '😀x', 'é', 'a\u2028b', '\ud83d']);
  if (chance(0.4)) c.count = pick([0, 5, 99, 100, 1e21]);
  if (chance(0.3)) c.name = pick(['abc', '']);
  if (chance(0.3)) c.nul = null;
  if (chance(0.3)) c.obj = { x: 1 };
  if (chance(0.1)) c.toString = 'own toString';
  return c;
}
const actions = ['read', 'write', 'file.read', 'api.call', 'Read', 'x', 'a_b', 'api.call.nested', '', 'read.write.x', 'net2.x'];
const resources = ['/data', '/data/secret', '/data/secret/public', '/', '', 'data', '/x/y/z', '/public/v1', '//data//', '/a b', "/its", '/é/😀', 'ident', '/Data', '/data//x'];
for (const p of policies) {
  for (let k = 0; k < 5; k++) {
    const action = pick(actions), resource = pick(resources);
    const ctx = chance(0.15) ? undefined : context();
    const r = ccl.evaluate(p.doc, action, resource, ctx);
    cases.evaluate.push({
      p: p.index, action, resource, context: ctx === undefined ? null : ctx,
      permitted: r.permitted, reason: r.reason, severity: r.severity ?? null,
      matched: r.matchedRule ? r.matchedRule.line : null, matchedType: r.matchedRule ? r.matchedRule.type : null,
      all: r.allMatches.map((s) => s.line),
    });
  }
}
// Regex semantics through `matches`.
const regexPatterns = ['^a', '^\\d+$', '.', '^.$', '^..$', 'a|b', '[a-z]+', '(?i)a', '(?#c)a', '(?>a)', '\\e', '\\A', 'a\\Z', '\\z', '^\\w+$', '\\s', '[]', '[^]', '[]a]',
  '(', '^[\\u0000-\\uffff]$', '\\uD83D', '\\uDE00$', '^\\uD83D\\uDE00$', '\\p{L}', '\\P{L}', '(?<n>x)\\k<n>', '\\x4', '\\u12', 'a.b', '\\bprod\\b', '$', '^$',
  '😀', '^😀$', '😀+', '[😀]', '^[😀]$', '\\😀', 'é', '^.{2}$', '[^a]', '\\cA', '\\c', '\\c1', 'a{', 'a{1', ']', '}', '\\1(a)', '\\0', '(?<=a)b', '(?<!a)b',
  '(?=p)', '(?!p)', 'x*?', 'a++', '^*', '[a-z-[aeiou]]', '\\k', '\\k<n>', '\\/', '[\\b]', '\\G', '\\a', '\\N', '\\K', '\\h', '\\R', '(?:a|b)', '(?<name>a)',
  '(?P<n>a)', '(?(a)b|c)', '\\Q.\\E', 'a\\', '[\\d-z]', '[\\w-.]', '\\u{41}', '^\\S+$', '\\D', '\\W', '[\\s\\S]', 'prod$', '^prod', '\\.', 'a.b.c'];
const regexSubjects = ['a', 'A', 'abc', '123', '12a', '', 'prod', 'production', 'dev', 'a\nb', 'a\u2028b', 'a\rb', '😀', 'x😀', '😀😀', '\ud83d', '\ude00', 'é', 'e\u0301',
  '\u0001', 'c', '\\c', 'a{', 'a{1', ']', '}', 'xx', 'ab', 'b', 'prod dev', 'p', 'ZZ', 'aZ', 'e', '\u001b', 'z', 'k', 'k<n>', '/', '\b', 'G', '\u00a0', '\ufeff',
  'Q.E', '.', 'u{41}', 'A', 'x4', 'u12', 'x'];
// results[i][j]: does `s matches '<patterns[i]>'` hold for s = subjects[j]?
cases.regexp = { patterns: regexPatterns, subjects: regexSubjects, results: regexPatterns.map((pat) => {
  const doc = ccl.parse("permit x on '/r' when s matches '" + pat + "'");
  return regexSubjects.map((s) => ccl.evaluate(doc, 'x', '/r', { s }).permitted ? 1 : 0);
}) };

// ---------- merge and narrowing ----------
for (let i = 0; i < 250 * Number(process.env.MULT || 1); i++) {
  const a = pick(policies), b = pick(policies);
  const m = ccl.merge(a.doc, b.doc);
  cases.merge.push({ parent: a.index, child: b.index, statements: m.statements.map((s) => [s.type, s.line, s.action]) });
  const n = ccl.validateNarrowing(a.doc, b.doc);
  cases.narrow.push({ parent: a.index, child: b.index, valid: n.valid,
    violations: n.violations.map((v) => ({ child: v.childRule.line, parent: v.parentRule.line, reason: v.reason })) });
}

// ---------- matching, specificity, subset ----------
function segPattern(sep, segs, n) {
  const a = []; for (let i = 0; i < n; i++) a.push(pick(segs));
  return a.join(sep);
}
for (let i = 0; i < 1500 * Number(process.env.MULT || 1); i++) {
  const sep = chance(0.5) ? '.' : '/';
  const segs = ['a', 'b', '*', '**', ''];
  let pattern = segPattern(sep, segs, int(6));
  let input = segPattern(sep, ['a', 'b', '', '*'], int(7));
  if (sep === '/') {
    if (chance(0.4)) pattern = '/' + pattern;
    if (chance(0.2)) pattern += '/';
    if (chance(0.4)) input = '/' + input;
    cases.match.push({ kind: 'resource', pattern, input, result: ccl.matchResource(pattern, input) });
  } else {
    cases.match.push({ kind: 'action', pattern, input, result: ccl.matchAction(pattern, input) });
  }
  cases.specificity.push({ action: segPattern('.', segs, int(4)), resource: (chance(0.5) ? '/' : '') + segPattern('/', segs, int(4)) });
}
for (const s of cases.specificity) s.result = ccl.specificity(s.action, s.resource);
// isSubsetPattern is internal: observe it through validateNarrowing.
for (let i = 0; i < 600 * Number(process.env.MULT || 1); i++) {
  const segs = ['a', 'b', '*', '**', ''];
  const ca = segPattern('.', segs, 1 + int(4)) || 'a', pa = segPattern('.', segs, 1 + int(4)) || 'a';
  const cr = '/' + segPattern('/', segs, int(4)), pr = '/' + segPattern('/', segs, int(4));
  const parent = { statements: [], permits: [{ type: 'permit', action: pa, resource: pr, severity: 'high', line: 1 }], denies: [], obligations: [], limits: [] };
  const child = { statements: [], permits: [{ type: 'permit', action: ca, resource: cr, severity: 'high', line: 1 }], denies: [], obligations: [], limits: [] };
  const deny = { statements: [], permits: [], denies: [{ type: 'deny', action: pa, resource: pr, severity: 'high', line: 1 }], obligations: [], limits: [] };
  cases.subset.push({ childAction: ca, childResource: cr, parentAction: pa, parentResource: pr,
    subset: ccl.validateNarrowing(parent, child).valid, overlap: !ccl.validateNarrowing(deny, child).valid });
}

// ---------- rate limits ----------
for (let i = 0; i < 150 * Number(process.env.MULT || 1); i++) {
  const n = 1 + int(4); const lines = [];
  for (let k = 0; k < n; k++) lines.push('limit ' + pick(['api.call', 'api.*', 'api.**', '**', '*', 'api', 'x.y']) + ' ' + int(200) + ' per ' + int(4) + ' ' + pick(['seconds', 'minutes', 'hours']));
  const src = lines.join('\n');
  const doc = ccl.parse(src);
  const action = pick(['api.call', 'api', 'x.y', 'api.call.deep', 'other']);
  const count = int(250), start = 1771465135340, now = start + pick([0, 1000, 59999, 60000, 60001, 3600000, 3600001, 7200000]);
  const r = ccl.checkRateLimit(doc, action, count, start, now);
  cases.ratelimit.push({ src, action, count, start, now, exceeded: r.exceeded, remaining: r.remaining === Infinity ? 'Infinity' : r.remaining, line: r.limit ? r.limit.line : null });
}

process.stdout.write(JSON.stringify(cases) + '\n');
