// Damage to evidence must be refused wherever a signature covers it. Every byte of a DCAP quote is
// named by what protects it: bytes covered by a signature (directly, or through a hash a signature
// covers) and the signatures themselves must make every change refused; length and type fields must
// too (the quote no longer parses). The few bytes no signature can cover (PEM framing of the PCK chain)
// may be changed only without changing the verdict. A verifier that accepted everything fails this.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormatError, toHex } from '../../src/attestation/bytes.ts';
import type { Collateral } from '../../src/attestation/collateral.ts';
import { verifyDcapCollateral } from '../../src/attestation/dcap-collateral.ts';
import { VerificationError } from '../../src/attestation/errors.ts';
import { verifyDcapQuote } from '../../src/attestation/verify-dcap.ts';
import type { DcapVerdict } from '../../src/attestation/verify-dcap.ts';
import { SNP_SIGNED_SIZE } from '../../src/attestation/snp-report.ts';
import { verifySnpReport } from '../../src/attestation/verify-snp.ts';
import { VECTORS } from './helpers/vectors.ts';

const DCAP = new URL('dcap-qvl/', VECTORS);
const SEV = new URL('go-sev-guest/', VECTORS);
const AT = new Date('2025-07-01T00:00:00Z');

let seed = 12345;
const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;

/** A verdict, or the code of one of our two error types (anything else fails the test). */
async function outcome<T>(p: Promise<T>): Promise<{ verdict: T } | { code: string }> {
  try {
    return { verdict: await p };
  } catch (e) {
    assert.ok(e instanceof FormatError || e instanceof VerificationError, `unexpected ${String(e)}`);
    return { code: e.code };
  }
}

/** Everything a relying party reads from a DCAP verdict. */
function dcapSummary(v: DcapVerdict): string {
  const c = v.quote.certification;
  return JSON.stringify([
    v.status,
    v.advisoryIds,
    v.fmspc,
    toHex(v.quote.signedData),
    toHex(v.quote.attestationKey),
    toHex(c.qeReport.reportData),
    // The certificates as DER: the PEM text around them is not signed.
    [...c.pckChainPem.matchAll(/-----BEGIN CERTIFICATE-----([^-]+)-----END/g)].map((m) =>
      Buffer.from(m[1], 'base64').toString('hex'),
    ),
  ]);
}

type Protection = 'signed' | 'signature' | 'structure' | 'pck-chain';
interface Region {
  name: string;
  start: number;
  end: number;
  protection: Protection;
  /** Every how many bytes one is changed (bounded time: a verification takes a few ms). */
  stride: number;
}

/**
 * The quote's fields with what protects each: the attestation key signs header || body; the QE report
 * binds the attestation key and QE auth data by hash and is signed by the PCK key; the PCK chain's
 * certificates are signed up to the pinned Intel root.
 */
function regions(q: Uint8Array, kind: 'sgx' | 'tdx'): Region[] {
  const view = new DataView(q.buffer, q.byteOffset, q.byteLength);
  const out: Region[] = [];
  let pos = 0;
  const add = (name: string, length: number, protection: Protection, stride = 1): void => {
    out.push({ name, start: pos, end: pos + length, protection, stride });
    pos += length;
  };
  add('header', 48, 'signed');
  add('report body', kind === 'sgx' ? 384 : 584, 'signed', 3);
  add('signature data length', 4, 'structure');
  add('quote signature', 64, 'signature');
  add('attestation key', 64, 'signed');
  if (kind === 'tdx') {
    add('outer certification data type', 2, 'structure');
    add('outer certification data size', 4, 'structure');
  }
  add('QE report', 384, 'signed', 3);
  add('QE report signature', 64, 'signature');
  const authSize = view.getUint16(pos, true);
  add('QE auth data size', 2, 'structure');
  add('QE auth data', authSize, 'signed');
  add('certification data type', 2, 'structure');
  const chainSize = view.getUint32(pos, true);
  add('certification data size', 4, 'structure');
  add('PCK certificate chain', chainSize, 'pck-chain', 20);
  if (pos < q.length) add('zero padding after the signature data', q.length - pos, 'structure');
  assert.equal(pos, q.length);
  return out;
}

/**
 * Offsets in the PEM chain that no signature covers: whitespace between and after the PEM blocks,
 * base64 padding ('=' and the character before it, whose low bits are unused) and NUL padding.
 */
function pemFraming(q: Uint8Array, chain: Region): Set<number> {
  const text = Buffer.from(q.subarray(chain.start, chain.end)).toString('latin1');
  const free = new Set<number>();
  for (const m of text.matchAll(/-----END CERTIFICATE-----([\s\0]*)/g)) {
    const from = (m.index ?? 0) + m[0].length - m[1].length;
    for (let i = from; i < (m.index ?? 0) + m[0].length; i++) free.add(chain.start + i);
  }
  for (const m of text.matchAll(/[A-Za-z0-9+/]=+(?=\r?\n-----END)/g)) {
    for (let i = 0; i < m[0].length; i++) free.add(chain.start + (m.index ?? 0) + i);
  }
  return free;
}

for (const kind of ['sgx', 'tdx'] as const) {
  test(`${kind.toUpperCase()} quote: a flipped bit in any signed, signature or structure byte is refused`, async () => {
    const quote = new Uint8Array(readFileSync(new URL(`${kind}_quote`, DCAP)));
    const raw = JSON.parse(
      readFileSync(new URL(`${kind}_quote_collateral.json`, DCAP), 'utf8'),
    ) as Collateral;
    const collateral = await verifyDcapCollateral(raw, { at: AT });
    const original = await verifyDcapQuote(quote, { collateral, at: AT });
    const verify = (bytes: Uint8Array) => outcome(verifyDcapQuote(bytes, { collateral, at: AT }));
    const all = regions(quote, kind);
    const chain = all.find((r) => r.protection === 'pck-chain') as Region;
    const framing = pemFraming(quote, chain);
    assert.ok(framing.size > 0 && framing.size < 200, `PEM framing bytes: ${framing.size}`);

    const accepted: string[] = [];
    const codes = new Set<string>();
    let tried = 0;
    for (const region of all) {
      // Each byte once (a different bit each time): all of the small fields, a third of the report
      // bodies, a twentieth of the PEM's base64 text.
      for (let i = region.start; i < region.end; i += region.stride) {
        if (framing.has(i)) continue;
        const copy = Uint8Array.from(quote);
        copy[i] ^= 1 << ((i * 5) % 8);
        const r = await verify(copy);
        tried++;
        if ('verdict' in r) accepted.push(`${region.name} byte ${i - region.start} (offset ${i})`);
        else codes.add(r.code);
      }
    }
    assert.deepEqual(accepted, [], `changes accepted after ${tried} tries`);
    assert.ok(codes.size >= 4, [...codes].join());

    // The framing bytes, every bit: refused, or the very same verdict (the certificates are unchanged).
    let sameVerdict = 0;
    for (const i of framing) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = Uint8Array.from(quote);
        copy[i] ^= 1 << bit;
        const r = await verify(copy);
        if ('verdict' in r) {
          assert.equal(dcapSummary(r.verdict), dcapSummary(original), `PEM framing offset ${i} bit ${bit}`);
          sameVerdict++;
        }
      }
    }
    assert.ok(sameVerdict > 0, 'some framing changes are harmless (the PEM text is not signed)');
  });
}

test('random damage to collateral text is refused or leaves the verdict unchanged', async () => {
  const quote = new Uint8Array(readFileSync(new URL('sgx_quote', DCAP)));
  const raw = JSON.parse(readFileSync(new URL('sgx_quote_collateral.json', DCAP), 'utf8')) as Collateral;
  const original = dcapSummary(await verifyDcapQuote(quote, { collateral: raw, at: AT }));
  const fields = Object.keys(raw) as (keyof Collateral)[];
  let refused = 0;
  for (let i = 0; i < 120; i++) {
    const field = fields[rand(fields.length)];
    const text = raw[field];
    const at = rand(text.length);
    const damaged = {
      ...raw,
      [field]: text.slice(0, at) + String.fromCharCode(rand(128)) + text.slice(at + 1),
    };
    const r = await outcome(verifyDcapQuote(quote, { collateral: damaged, at: AT }));
    if ('verdict' in r) assert.equal(dcapSummary(r.verdict), original, `${field}[${at}]`);
    else refused++;
  }
  assert.ok(refused >= 60, `${refused} of 120 refused`);
});

/** An SNP verdict's fields as JSON, without the signature (which is not part of what it says). */
function snpSummary(verdict: unknown): string {
  return JSON.stringify(verdict, (key, v: unknown) =>
    key === 'signatureR' || key === 'signatureS'
      ? undefined
      : v instanceof Uint8Array
        ? toHex(v)
        : typeof v === 'bigint'
          ? String(v)
          : v,
  );
}

test('SNP: a flipped bit in the signed part of a report, its signature or its VCEK is refused', async () => {
  const report = new Uint8Array(readFileSync(new URL('attestation.bin', SEV)));
  const vcek = new Uint8Array(readFileSync(new URL('vcek.testcer', SEV)));
  const caChainPem = readFileSync(new URL('milan.testcer', SEV), 'utf8');
  const verify = (r: Uint8Array, v: Uint8Array) =>
    outcome(verifySnpReport(r, { vcek: v, caChainPem, at: AT }));
  const original = await verifySnpReport(report, { vcek, caChainPem, at: AT });
  const SIGNATURE_RS = 144; // R and S, 72 bytes each, right after the signed part
  const accepted: string[] = [];
  // A sixth of the signed part, half of R and S (each byte once, a different bit each time).
  for (let i = 0; i < SNP_SIGNED_SIZE + SIGNATURE_RS; i += i < SNP_SIGNED_SIZE ? 6 : 2) {
    const r = Uint8Array.from(report);
    r[i] ^= 1 << ((i * 5) % 8);
    if ('verdict' in (await verify(r, vcek))) accepted.push(`report byte ${i}`);
  }
  // The VCEK is DER signed by the ASK: all of it is covered (a tenth of it is tried).
  for (let i = 0; i < vcek.length; i += 10) {
    const v = Uint8Array.from(vcek);
    v[i] ^= 1 << ((i * 5) % 8);
    if ('verdict' in (await verify(report, v))) accepted.push(`VCEK byte ${i}`);
  }
  assert.deepEqual(accepted, []);
  // The reserved bytes after R and S are not signed: a change there may verify, saying the same.
  for (let i = SNP_SIGNED_SIZE + SIGNATURE_RS; i < report.length; i += 20) {
    const r = Uint8Array.from(report);
    r[i] ^= 1 << ((i * 5) % 8);
    const o = await verify(r, vcek);
    if ('verdict' in o) assert.equal(snpSummary(o.verdict), snpSummary(original), `reserved byte ${i}`);
  }
});
