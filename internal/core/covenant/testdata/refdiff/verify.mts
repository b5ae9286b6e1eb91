// The reference's side of the covenant differential test (TestRefDiff in
// ../../refdiff_test.go, build tag refdiff).
//
// For each input line {"doc": text, "now": ISO 8601} it prints one line: the
// checks of verifyCovenant(deserializeCovenant(text)) with the clock set to
// "now", or {"ok": false, "stage": "parse"|"verify", "error": message} when
// one of them throws.
//
// To run it, check out the reference (github.com/agbusiness195/Stele at
// 1a5cb58), point each of packages/{types,crypto,ccl,core}/package.json's
// "main" and "exports" at ./src/index.ts, link them as node_modules/@stele/*,
// npm install @noble/ed25519@^2.1.0 @noble/hashes@^1.4.0 tsx, copy this file
// into a directory of that checkout, and run it with tsx:
//
//   REFDIFF_CMD="cp $PWD/testdata/refdiff/verify.mts $REF/harness/ && cd $REF && npx tsx harness/verify.mts" \
//     go test -tags refdiff -run TestRefDiff -v .
//
// (REFDIFF_N, REFDIFF_SEED and REFDIFF_WRITE=1 are described there.)
import { createInterface } from 'node:readline';
import { deserializeCovenant, verifyCovenant } from '@stele/core';

const RealDate = Date;
let NOW = 0;
class FakeDate extends RealDate {
  constructor(...a: any[]) { if (a.length === 0) super(NOW); else super(...(a as [any])); }
  static now() { return NOW; }
}
(globalThis as any).Date = FakeDate;

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  const t = JSON.parse(line);
  NOW = RealDate.parse(t.now);
  let out: any;
  try {
    const d = deserializeCovenant(t.doc);
    try {
      const r = await verifyCovenant(d);
      out = { ok: true, valid: r.valid, checks: r.checks.map((c: any) => ({ name: c.name, passed: c.passed, message: c.message })) };
    } catch (e: any) {
      out = { ok: false, stage: 'verify', error: String(e && e.message) };
    }
  } catch (e: any) {
    out = { ok: false, stage: 'parse', error: String(e && e.message) };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
