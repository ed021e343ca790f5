import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { flattenedDecrypt, generateKeyPair, exportJWK } from 'jose';
import type { FlattenedJWE, JWK } from 'jose';
import { parsePolicy } from '../../src/attestation/policy.ts';
import { runtimeDataReportData } from '../../src/interface/kbs/binding.ts';
import { KbsClientError } from '../../src/enclave/kbs/client.ts';
import { encodeBase64 } from '../../src/interface/kbs/protocol.ts';
import { DISK_KEY, startKbs } from './helpers/kbs.ts';
import type { TestKbs } from './helpers/kbs.ts';
import type { QuoteFields } from './helpers/quotes.ts';

/** A hand-driven RCAR exchange, so each step can be bent. */
async function post(url: string, body: unknown, cookie?: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
    body: JSON.stringify(body),
  });
}
const cookieOf = (r: Response): string => (r.headers.get('set-cookie') ?? '').split(';')[0];

async function auth(kbs: TestKbs): Promise<{ cookie: string; nonce: string }> {
  const r = await post(`${kbs.url}/kbs/v0/auth`, { version: '0.4.0', tee: 'sgx', 'extra-params': {} });
  assert.equal(r.status, 200);
  const { nonce } = (await r.json()) as { nonce: string };
  return { cookie: cookieOf(r), nonce };
}

async function teeKey(): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ECDH-ES+A256KW', { crv: 'P-256' });
  const { kty, crv, x, y } = await exportJWK(publicKey);
  return { privateKey: privateKey as CryptoKey, jwk: { kty, crv, x, y, alg: 'ECDH-ES+A256KW' } };
}

function attestBody(
  kbs: TestKbs,
  nonce: string,
  jwk: JWK,
  bound?: { nonce?: string; jwk?: JWK },
  fields: Partial<QuoteFields> = {},
) {
  const reportData = runtimeDataReportData({
    nonce: bound?.nonce ?? nonce,
    'tee-pubkey': (bound?.jwk ?? jwk) as Record<string, unknown>,
  });
  const quote = kbs.issuer.quote({ reportData, ...fields });
  return {
    'runtime-data': { nonce, 'tee-pubkey': jwk },
    'tee-evidence': { primary_evidence: { quote: encodeBase64(quote) }, additional_evidence: '' },
  };
}

async function assertProblem(r: Response, status: number, code: string): Promise<void> {
  assert.equal(r.status, status);
  assert.equal(r.headers.get('content-type'), 'application/problem+json');
  const p = (await r.json()) as { type: string; status: number; title: string; detail: string };
  assert.equal(p.type, `urn:cloister:kbs:${code}`, p.detail);
  assert.equal(p.status, status);
  assert.ok(p.title && p.detail);
}

function lastAudit(kbs: TestKbs) {
  const log = kbs.store.auditLog();
  return log[log.length - 1];
}

describe('KBS RCAR flow', () => {
  let kbs: TestKbs;
  let clock = Date.now();
  before(async () => {
    kbs = await startKbs({ now: () => clock });
  });
  after(() => kbs.close());

  it('releases the disk key to an enclave meeting the policy (EC and RSA keys)', async () => {
    for (const keyType of ['EC', 'RSA'] as const) {
      const client = kbs.client({}, { keyType });
      assert.deepEqual(await client.getResource('default/disk/app'), DISK_KEY);
      assert.ok(client.attestationToken);
      const row = lastAudit(kbs);
      assert.equal(row.event, 'release');
      assert.equal(row.resource, 'default/disk/app');
      assert.equal(row.mrenclave, '11'.repeat(32));
    }
    assert.ok(kbs.logs.some((l) => l.startsWith('release default/disk/app')));
  });

  it('encrypts the JWE to the enclave key only', async () => {
    const { cookie, nonce } = await auth(kbs);
    const key = await teeKey();
    const attest = await post(`${kbs.url}/kbs/v0/attest`, attestBody(kbs, nonce, key.jwk), cookie);
    assert.equal(attest.status, 200);
    const { token } = (await attest.json()) as { token: string };
    const r = await fetch(`${kbs.url}/kbs/v0/resource/default/disk/app`, { headers: { cookie } });
    assert.equal(r.status, 200);
    const jwe = (await r.json()) as FlattenedJWE;
    assert.ok(!JSON.stringify(jwe).includes(Buffer.from(DISK_KEY).toString('base64url')));
    const other = await teeKey();
    await assert.rejects(flattenedDecrypt(jwe, other.privateKey));
    assert.deepEqual((await flattenedDecrypt(jwe, key.privateKey)).plaintext, DISK_KEY);
    // The attestation token works as a bearer credential, for the same key.
    const viaToken = await fetch(`${kbs.url}/kbs/v0/resource/default/disk/app`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.deepEqual(
      (await flattenedDecrypt((await viaToken.json()) as FlattenedJWE, key.privateKey)).plaintext,
      DISK_KEY,
    );
    const forged = await fetch(`${kbs.url}/kbs/v0/resource/default/disk/app`, {
      headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` },
    });
    await assertProblem(forged, 401, 'bad-token');
  });

  it('refuses a stale nonce', async () => {
    const { cookie, nonce } = await auth(kbs);
    const key = await teeKey();
    clock += 6 * 60_000;
    try {
      await assertProblem(
        await post(`${kbs.url}/kbs/v0/attest`, attestBody(kbs, nonce, key.jwk), cookie),
        401,
        'nonce-expired',
      );
    } finally {
      clock -= 6 * 60_000;
    }
    assert.equal(lastAudit(kbs).event, 'refuse');
    assert.match(lastAudit(kbs).reason, /nonce-expired/);
  });

  it('refuses a replayed nonce', async () => {
    const { cookie, nonce } = await auth(kbs);
    const key = await teeKey();
    const body = attestBody(kbs, nonce, key.jwk);
    assert.equal((await post(`${kbs.url}/kbs/v0/attest`, body, cookie)).status, 200);
    await assertProblem(await post(`${kbs.url}/kbs/v0/attest`, body, cookie), 401, 'nonce-used');
    assert.match(lastAudit(kbs).reason, /nonce-used/);
    // A failed attempt spends the nonce as well.
    const second = await auth(kbs);
    const bad = attestBody(kbs, second.nonce, key.jwk, {}, { mrEnclave: '33'.repeat(32) });
    await assertProblem(await post(`${kbs.url}/kbs/v0/attest`, bad, second.cookie), 401, 'policy-refused');
    const good = attestBody(kbs, second.nonce, key.jwk);
    await assertProblem(await post(`${kbs.url}/kbs/v0/attest`, good, second.cookie), 401, 'nonce-used');
  });

  it("refuses another session's nonce", async () => {
    const a = await auth(kbs);
    const b = await auth(kbs);
    const key = await teeKey();
    await assertProblem(
      await post(`${kbs.url}/kbs/v0/attest`, attestBody(kbs, a.nonce, key.jwk), b.cookie),
      401,
      'nonce-mismatch',
    );
    assert.match(lastAudit(kbs).reason, /nonce-mismatch/);
  });

  it('refuses evidence whose report data does not bind the public key or the nonce', async () => {
    const key = await teeKey();
    const other = await teeKey();
    const s1 = await auth(kbs);
    const wrongKey = attestBody(kbs, s1.nonce, key.jwk, { jwk: other.jwk });
    await assertProblem(await post(`${kbs.url}/kbs/v0/attest`, wrongKey, s1.cookie), 401, 'evidence-refused');
    assert.match(lastAudit(kbs).reason, /report-data/);
    const s2 = await auth(kbs);
    const wrongNonce = attestBody(kbs, s2.nonce, key.jwk, { nonce: 'x'.repeat(43) });
    await assertProblem(
      await post(`${kbs.url}/kbs/v0/attest`, wrongNonce, s2.cookie),
      401,
      'evidence-refused',
    );
  });

  it('refuses evidence that does not verify (tampered quote)', async () => {
    const { cookie, nonce } = await auth(kbs);
    const key = await teeKey();
    const body = attestBody(kbs, nonce, key.jwk);
    const quote = Buffer.from(body['tee-evidence'].primary_evidence.quote, 'base64');
    quote[48 + 64] ^= 1; // a bit of MRENCLAVE
    body['tee-evidence'].primary_evidence.quote = quote.toString('base64');
    await assertProblem(await post(`${kbs.url}/kbs/v0/attest`, body, cookie), 401, 'evidence-refused');
    assert.match(lastAudit(kbs).reason, /quote-signature/);
  });

  it('applies the attestation policy (wrong MRENCLAVE, debug) and each resource policy', async () => {
    const wrong = kbs.client({ mrEnclave: '44'.repeat(32) });
    await assert.rejects(wrong.getResource('default/disk/app'), (e: unknown) => {
      assert.ok(e instanceof KbsClientError);
      assert.equal(e.status, 401);
      assert.equal(e.code, 'policy-refused');
      return true;
    });
    assert.match(lastAudit(kbs).reason, /MRENCLAVE 4444.* is not allowed/);
    assert.equal(lastAudit(kbs).mrenclave, '44'.repeat(32));
    await assert.rejects(kbs.client({ debug: true }).getResource('default/disk/app'), /debug enclave/);

    kbs.store.put('default/disk/other', DISK_KEY, parsePolicy({ mrenclave: ['55'.repeat(32)] }));
    kbs.store.put('default/disk/new', DISK_KEY, parsePolicy({ minIsvsvn: 9 }));
    const client = kbs.client();
    await assert.rejects(client.getResource('default/disk/other'), (e: unknown) => {
      assert.ok(e instanceof KbsClientError && e.status === 403 && e.code === 'policy-refused');
      return true;
    });
    assert.equal(lastAudit(kbs).resource, 'default/disk/other');
    await assert.rejects(client.getResource('default/disk/new'), /ISVSVN 3 is below the minimum 9/);
    assert.deepEqual(await kbs.client({ isvSvn: 9 }).getResource('default/disk/new'), DISK_KEY);
  });

  it('answers 401 without an attested session and 404 for a missing resource', async () => {
    await assertProblem(await fetch(`${kbs.url}/kbs/v0/resource/default/disk/app`), 401, 'not-attested');
    const { cookie } = await auth(kbs);
    await assertProblem(
      await fetch(`${kbs.url}/kbs/v0/resource/default/disk/app`, { headers: { cookie } }),
      401,
      'not-attested',
    );
    await assert.rejects(kbs.client().getResource('default/disk/none'), (e: unknown) => {
      assert.ok(e instanceof KbsClientError && e.status === 404 && e.code === 'no-resource');
      return true;
    });
    assert.equal(lastAudit(kbs).reason.startsWith('404'), true);
  });

  it('expires attested sessions, and the client attests again', async () => {
    const client = kbs.client();
    assert.deepEqual(await client.getResource('default/disk/app'), DISK_KEY);
    clock += 6 * 60_000;
    try {
      assert.deepEqual(await client.getResource('default/disk/app'), DISK_KEY);
      assert.ok(kbs.store.auditLog().some((r) => r.reason.includes('session-expired')));
    } finally {
      clock -= 6 * 60_000;
    }
  });
});
