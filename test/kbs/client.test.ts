import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { FlattenedEncrypt, generateKeyPair } from 'jose';
import { KbsClient, KbsClientError } from '../../src/enclave/kbs/client.ts';
import type { Fetch } from '../../src/enclave/kbs/client.ts';
import { canonicalJson } from '../../src/interface/jcs.ts';
import { runtimeDataReportData } from '../../src/interface/kbs/binding.ts';

/** A stub KBS: answers each request with the next scripted response (the client takes fetch as a parameter). */
function scripted(...responses: Array<(init: RequestInit) => Response | Promise<Response>>): Fetch {
  let i = 0;
  return async (_url, init) => {
    const next = responses[i++];
    if (next === undefined) throw new Error('unexpected request');
    return next(init);
  };
}
const json = (value: unknown, status = 200, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(value), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
const challenge = () =>
  json({ nonce: 'n0nce', 'extra-params': {} }, 200, { 'set-cookie': 'kbs-session-id=abc; Path=/kbs' });
const evidence = (): Uint8Array => new Uint8Array(16);

describe('KBS client against a hostile or broken server', () => {
  it('binds the nonce and its public key in the report data it asks evidence for', async () => {
    let asked: Uint8Array | undefined;
    let sent: { 'runtime-data': { nonce: string; 'tee-pubkey': Record<string, unknown> } } | undefined;
    const client = new KbsClient({
      url: 'http://kbs.invalid',
      fetch: scripted(challenge, (init) => {
        sent = JSON.parse(String(init.body));
        assert.equal(new Headers(init.headers).get('cookie'), 'kbs-session-id=abc');
        return json({ token: 't' });
      }),
      evidence: (reportData) => {
        asked = reportData;
        return evidence();
      },
    });
    await client.attest();
    assert.ok(sent && asked);
    assert.equal(sent['runtime-data'].nonce, 'n0nce');
    assert.equal(sent['runtime-data']['tee-pubkey'].d, undefined);
    assert.deepEqual(asked, runtimeDataReportData(sent['runtime-data']));
    assert.deepEqual(asked.subarray(48), new Uint8Array(16));
    assert.equal(client.attestationToken, 't');
  });

  it('fails with clear errors on garbage, problems, and JWEs it cannot open', async () => {
    const cases: Array<[Fetch, RegExp]> = [
      [
        scripted(() => new Response('<html>', { status: 502 })),
        /KBS 502 not-kbs: the server at http:\/\/kbs.invalid answered HTTP 502, not a key broker reply: <html>/,
      ],
      [scripted(() => json({ 'extra-params': {} })), /bad-challenge/],
      [
        scripted(() => json({ type: 'urn:cloister:kbs:busy', status: 503, detail: 'later' }, 503)),
        /KBS 503 busy: later/,
      ],
      [
        scripted(
          challenge,
          () => json({ token: 't' }),
          () => json({ ciphertext: 'x' }),
        ),
        /JWE|Invalid/,
      ],
      [
        scripted(
          challenge,
          () => json({ token: 't' }),
          async () => {
            const other = await generateKeyPair('ECDH-ES+A256KW');
            const jwe = await new FlattenedEncrypt(new Uint8Array(8))
              .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM' })
              .encrypt(other.publicKey);
            return json(jwe);
          },
        ),
        /decryption|failed/i,
      ],
      [
        scripted(
          challenge,
          () => json({ token: 't' }),
          async () => {
            const other = await generateKeyPair('RSA-OAEP-256');
            const jwe = await new FlattenedEncrypt(new Uint8Array(8))
              .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM' })
              .encrypt(other.publicKey);
            return json(jwe);
          },
        ),
        /not allowed|alg/i,
      ],
    ];
    for (const [fetch, message] of cases) {
      await assert.rejects(
        new KbsClient({ url: 'http://kbs.invalid', fetch, evidence }).getResource('a/b/c'),
        message,
      );
    }
    // A refusal keeps its status and code.
    const refused = new KbsClient({
      url: 'http://kbs.invalid',
      fetch: scripted(challenge, () => json({ type: 'urn:cloister:kbs:policy-refused', detail: 'no' }, 401)),
      evidence,
    });
    await assert.rejects(
      refused.attest(),
      (e: unknown) => e instanceof KbsClientError && e.status === 401 && e.code === 'policy-refused',
    );
  });
});

describe('JCS (RFC 8785)', () => {
  it('sorts members by UTF-16 code units and serializes numbers and strings as ECMAScript does', () => {
    assert.equal(
      canonicalJson({ b: 1, a: [true, null, 'x'], '\u00e9': 2, A: { z: 1e21, y: 0.1 } }),
      '{"A":{"y":0.1,"z":1e+21},"a":[true,null,"x"],"b":1,"é":2}',
    );
    // RFC 8785 section 3.2.3's example order: "\u20ac", "\r", "\ufb33", "1", "\ud83d\ude00", "\u0080", "\u00f6".
    const keys = ['\u20ac', '\r', '\ufb33', '1', '\ud83d\ude00', '\u0080', '\u00f6'];
    const expected = ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33'];
    assert.equal(
      canonicalJson(Object.fromEntries(keys.map((k) => [k, 0]))),
      `{${expected.map((k) => `${JSON.stringify(k)}:0`).join(',')}}`,
    );
    assert.throws(() => canonicalJson({ x: Number.NaN }), /non-finite/);
    assert.throws(() => canonicalJson({ x: undefined }), /cannot serialize/);
  });
});
