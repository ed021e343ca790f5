// The key broker's volume counters: read and advanced only by attested sessions, per signer
// identity, never decreased, durable and sealed at rest; every reply a JWS under the broker key that
// the enclave checks (the enclave's own verifier, `verifyCounterReply`) — so that a host relaying the
// exchange can neither forge an answer nor replay an old one.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CompactSign } from 'jose';
import { VolumeCounters, brokerKey } from '../../src/kbs/counters.ts';
import { KbsStore } from '../../src/kbs/store.ts';
import { COUNTER_JWS_TYPE, COUNTER_PATH, counterIdentity } from '../../src/interface/kbs/counter.ts';
import { runtimeDataReportData } from '../../src/interface/kbs/binding.ts';
import { encodeBase64 } from '../../src/interface/kbs/protocol.ts';
import {
  BrokerCounters,
  CounterError,
  brokerPublicKey,
  verifyCounterReply,
  type SyncHttp,
} from '../../src/enclave/kbs/counters.ts';
import { startKbs, type TestKbs } from './helpers/kbs.ts';
import { MRENCLAVE, MRSIGNER, type QuoteFields } from './helpers/quotes.ts';

const dir = mkdtempSync(join(tmpdir(), 'cloister-kbs-counters-'));
const servers: TestKbs[] = [];
const VOLUME = 'ab'.repeat(16);
const json = { 'content-type': 'application/json' };
const identityOf = (mrsigner = MRSIGNER) =>
  counterIdentity({ tee: 'sgx', mrsigner, isvprodid: 1, mrenclave: MRENCLAVE });
const nonce = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');

async function start(file?: string): Promise<TestKbs & { counters: VolumeCounters }> {
  const store = await KbsStore.open({ file, masterKeyFile: file && `${file}.key` });
  const counters = new VolumeCounters(store);
  const kbs = await startKbs({ store, counters });
  servers.push(kbs);
  return { ...kbs, counters };
}

/** An attested session (RCAR over real HTTP) whose quote carries `fields`; returns a counter request. */
async function session(kbs: TestKbs, fields: Omit<QuoteFields, 'reportData'> = {}) {
  const auth = await fetch(`${kbs.url}/kbs/v0/auth`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ version: '0.4.0', tee: 'sgx', 'extra-params': {} }),
  });
  const cookie = /kbs-session-id=[A-Za-z0-9_-]+/.exec(auth.headers.get('set-cookie') ?? '')?.[0] ?? '';
  const { nonce: challenge } = (await auth.json()) as { nonce: string };
  const { x, y } = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  const runtimeData = { nonce: challenge, 'tee-pubkey': { kty: 'EC', crv: 'P-256', x, y } };
  const quote = kbs.issuer.quote({ ...fields, reportData: runtimeDataReportData(runtimeData) });
  const attested = await fetch(`${kbs.url}/kbs/v0/attest`, {
    method: 'POST',
    headers: { ...json, cookie },
    body: JSON.stringify({
      'runtime-data': runtimeData,
      'tee-evidence': { primary_evidence: { quote: encodeBase64(quote) }, additional_evidence: '' },
    }),
  });
  assert.equal(attested.status, 200, await attested.clone().text());
  return async (
    body: unknown,
  ): Promise<{ status: number; value: { jws?: string; type?: string; detail?: string } }> => {
    const r = await fetch(`${kbs.url}${COUNTER_PATH}`, {
      method: 'POST',
      headers: { ...json, cookie },
      body: JSON.stringify(body),
    });
    return { status: r.status, value: (await r.json()) as { jws?: string } };
  };
}

describe('volume counters at the key broker', () => {
  after(async () => {
    for (const s of servers) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads 0 at first, advances, never goes back, and signs every answer over the nonce', async () => {
    const kbs = await start();
    const ask = await session(kbs);
    const key = brokerPublicKey(kbs.counters.publicKey);
    const expect = (n: string) => ({ volume: VOLUME, identity: identityOf(), nonce: n });
    let n = nonce();
    let r = await ask({ volume: VOLUME, nonce: n });
    assert.equal(r.status, 200);
    assert.equal(verifyCounterReply(r.value.jws as string, key, expect(n)), 0);
    n = nonce();
    r = await ask({ volume: VOLUME, nonce: n, generation: 7 });
    assert.equal(verifyCounterReply(r.value.jws as string, key, expect(n)), 7);
    r = await ask({ volume: VOLUME, nonce: nonce(), generation: 6 });
    assert.equal(r.status, 409);
    assert.equal(r.value.type, 'urn:cloister:kbs:counter-decrease');
    assert.match(r.value.detail ?? '', /generation 6 is below the recorded 7/);
    n = nonce();
    r = await ask({ volume: VOLUME, nonce: n, generation: 7 });
    assert.equal(
      verifyCounterReply(r.value.jws as string, key, expect(n)),
      7,
      'the same generation again is fine',
    );
    assert.equal(kbs.counters.get(identityOf(), VOLUME), 7);
    assert.match(kbs.logs.join('\n'), /refuse .*counter-decrease/);
  });

  it('keeps one counter per signer identity', async () => {
    const kbs = await start();
    await (
      await session(kbs)
    )({ volume: VOLUME, nonce: nonce(), generation: 9 });
    const other = await session(kbs, { mrSigner: '33'.repeat(32) });
    const n = nonce();
    const r = await other({ volume: VOLUME, nonce: n });
    const key = brokerPublicKey(kbs.counters.publicKey);
    const identity = identityOf('33'.repeat(32));
    assert.equal(verifyCounterReply(r.value.jws as string, key, { volume: VOLUME, identity, nonce: n }), 0);
    // The host hands the first enclave the other enclave's (empty) counter: refused.
    assert.throws(
      () =>
        verifyCounterReply(r.value.jws as string, key, { volume: VOLUME, identity: identityOf(), nonce: n }),
      /for another enclave identity/,
    );
  });

  it('refuses replayed, altered and forged replies in the enclave', async () => {
    const kbs = await start();
    const ask = await session(kbs);
    const key = brokerPublicKey(kbs.counters.publicKey);
    const old = nonce();
    const before = (await ask({ volume: VOLUME, nonce: old })).value.jws as string;
    await ask({ volume: VOLUME, nonce: nonce(), generation: 12 });
    const fresh = nonce();
    const expected = { volume: VOLUME, identity: identityOf(), nonce: fresh };
    // The host replays the answer of an earlier request (generation 0) to this one.
    assert.throws(() => verifyCounterReply(before, key, expected), /nonce differs: replayed/);
    const current = (await ask({ volume: VOLUME, nonce: fresh })).value.jws as string;
    assert.equal(verifyCounterReply(current, key, expected), 12);
    // Altered: a lower generation under the broker's signature.
    const [h, p, s] = current.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const lowered = Buffer.from(JSON.stringify({ ...claims, generation: 0 })).toString('base64url');
    assert.throws(() => verifyCounterReply(`${h}.${lowered}.${s}`, key, expected), /signature is not/);
    // Forged: the same claims signed by a key of the host's own.
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = await new CompactSign(Buffer.from(JSON.stringify({ ...claims, generation: 0 })))
      .setProtectedHeader({ alg: 'ES256', typ: COUNTER_JWS_TYPE })
      .sign(privateKey);
    assert.throws(() => verifyCounterReply(forged, key, expected), /signature is not/);
    // Unsigned, truncated, oversized, another volume.
    const none = `${Buffer.from('{"alg":"none","typ":"x"}').toString('base64url')}.${p}.`;
    assert.throws(() => verifyCounterReply(none, key, expected), /compact JWS|ES256/);
    assert.throws(() => verifyCounterReply(current.slice(0, -10), key, expected), /signature|compact/);
    assert.throws(() => verifyCounterReply('a'.repeat(5000), key, expected), /too large/);
    assert.throws(
      () => verifyCounterReply(current, key, { ...expected, volume: 'cd'.repeat(16) }),
      /another volume/,
    );
  });

  it('refuses every mutation of a signed reply, and hostile claims even under the broker key', async () => {
    const kbs = await start();
    const ask = await session(kbs);
    const key = brokerPublicKey(kbs.counters.publicKey);
    const n = nonce();
    const expected = { volume: VOLUME, identity: identityOf(), nonce: n };
    const jws = (await ask({ volume: VOLUME, nonce: n, generation: 3 })).value.jws as string;
    assert.equal(verifyCounterReply(jws, key, expected), 3);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    let refused = 0;
    for (let i = 0; i < jws.length; i++) {
      // Each position changed to another character of the alphabet (one per position, bounded).
      const c = alphabet[(alphabet.indexOf(jws[i]) + 1 + (i % 7)) % alphabet.length];
      const mutated = jws.slice(0, i) + c + jws.slice(i + 1);
      assert.throws(() => verifyCounterReply(mutated, key, expected), CounterError, `position ${i}`);
      refused++;
    }
    assert.equal(refused, jws.length);
    // Claims the broker would never sign, signed with its key: the enclave still checks them.
    const signer = brokerKey(kbs.store);
    const good = { typ: COUNTER_JWS_TYPE, volume: VOLUME, identity: identityOf(), generation: 3, nonce: n };
    const sign = (
      claims: unknown,
      header: Record<string, unknown> = { alg: 'ES256', typ: COUNTER_JWS_TYPE },
    ) =>
      new CompactSign(Buffer.from(JSON.stringify(claims))).setProtectedHeader(header as never).sign(signer);
    for (const hostile of [
      { ...good, generation: '3' },
      { ...good, generation: -1 },
      { ...good, generation: 2 ** 60 },
      { ...good, extra: true },
      { ...good, typ: 'jwt' },
      [good],
      null,
    ]) {
      const signed = await sign(hostile);
      assert.throws(() => verifyCounterReply(signed, key, expected), CounterError, JSON.stringify(hostile));
    }
    assert.throws(() => verifyCounterReply('x', key, expected), /not a compact JWS/);
    const otherType = await sign(good, { alg: 'ES256', typ: 'JWT' });
    assert.throws(() => verifyCounterReply(otherType, key, expected), /not an ES256 counter signature/);
    const critical = await sign(good, { alg: 'ES256', typ: COUNTER_JWS_TYPE, crit: ['b64'], b64: true });
    assert.throws(() => verifyCounterReply(critical, key, expected), /not an ES256 counter signature/);
    assert.equal(verifyCounterReply(await sign(good), key, expected), 3);
  });

  it('the enclave client refuses a genuine old answer that a host replays to a new request', async () => {
    const kbs = await start();
    const ask = await session(kbs);
    const recorded = await ask({ volume: VOLUME, nonce: nonce() });
    await ask({ volume: VOLUME, nonce: nonce(), generation: 30 });
    const requests: string[] = [];
    // A host relaying the enclave's requests: it plays the session along, then replays the old answer.
    const host: SyncHttp = ({ url, body }) => {
      const path = new URL(url).pathname;
      requests.push(path);
      const reply = (value: unknown) => ({
        status: 200,
        headers: { 'set-cookie': 'kbs-session-id=hijacked' },
        body: Buffer.from(JSON.stringify(value)),
      });
      if (path === '/kbs/v0/auth') return reply({ nonce: 'n'.repeat(43), 'extra-params': {} });
      if (path === '/kbs/v0/attest') return reply({ token: 'x' });
      assert.match(Buffer.from(body).toString(), /"nonce":"[A-Za-z0-9_-]{43}"/);
      return reply(recorded.value);
    };
    const client = new BrokerCounters({
      url: kbs.url,
      http: host,
      evidence: () => new Uint8Array(0),
      identity: identityOf(),
      brokerKey: kbs.counters.publicKey,
    });
    assert.throws(() => client.recorded(VOLUME), /nonce differs: replayed/);
    assert.throws(() => client.advance(VOLUME, 31), /nonce differs: replayed/);
    assert.deepEqual(requests, ['/kbs/v0/auth', '/kbs/v0/attest', COUNTER_PATH, COUNTER_PATH]);
  });

  it('answers only attested sessions and well-formed requests', async () => {
    const kbs = await start();
    const unattested = await fetch(`${kbs.url}${COUNTER_PATH}`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ volume: VOLUME, nonce: nonce(), generation: 99 }),
    });
    assert.equal(unattested.status, 401);
    const ask = await session(kbs);
    for (const bad of [
      { volume: 'AB'.repeat(16), nonce: nonce() },
      { volume: VOLUME, nonce: 'short' },
      { volume: VOLUME, nonce: nonce(), generation: -1 },
      { volume: VOLUME, nonce: nonce(), generation: 2 ** 60 },
      { volume: VOLUME, nonce: nonce(), extra: 1 },
      [VOLUME],
    ])
      assert.equal((await ask(bad)).status, 400, JSON.stringify(bad));
    assert.equal(kbs.counters.get(identityOf(), VOLUME), 0);
  });

  it('keeps counters and its key across restarts, sealed: a row moved to another identity is refused', async () => {
    const file = join(dir, 'kbs.sqlite');
    const first = await start(file);
    const publicKey = first.counters.publicKey;
    await (
      await session(first)
    )({ volume: VOLUME, nonce: nonce(), generation: 41 });
    await first.close();
    servers.splice(servers.indexOf(first), 1);
    const second = await start(file);
    assert.deepEqual(second.counters.publicKey, publicKey, 'the broker key survives a restart');
    assert.equal(second.counters.get(identityOf(), VOLUME), 41);
    const other = identityOf('44'.repeat(32));
    second.store.run('UPDATE volume_counters SET identity = ?', [other]);
    assert.throws(() => second.counters.get(other, VOLUME), /authenticate/);
  });
});
