// The enclave checks the broker itself: TLS ends at the untrusted host, which relays the broker's
// answers and could encrypt a secret of its own to the enclave's public key (it sees that key in the
// attest request). With the broker key pinned, a release counts only with the broker's signature
// for this resource, this body and this enclave key.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { FlattenedEncrypt, importJWK, type JWK } from 'jose';
import type { Fetch } from '../../src/enclave/kbs/client.ts';
import { VolumeCounters } from '../../src/kbs/counters.ts';
import { KbsStore } from '../../src/kbs/store.ts';
import { RELEASE_SIGNATURE_HEADER } from '../../src/interface/kbs/release.ts';
import { DISK_KEY, POLICY, startKbs, type TestKbs } from './helpers/kbs.ts';

const FORGED = new TextEncoder().encode('the host chose this key');

/** A relay that passes everything through, remembers the enclave's key, and may rewrite resource answers. */
function hostileRelay(rewrite: (answer: Response, teeKey: JWK, path: string) => Promise<Response>): Fetch {
  let teeKey: JWK | undefined;
  return async (url, init) => {
    if (url.endsWith('/kbs/v0/attest'))
      teeKey = (JSON.parse(String(init.body)) as { 'runtime-data': { 'tee-pubkey': JWK } })['runtime-data'][
        'tee-pubkey'
      ];
    const answer = await fetch(url, init);
    const path = /\/kbs\/v0\/resource\/(.*)$/.exec(url)?.[1];
    return path === undefined || teeKey === undefined ? answer : rewrite(answer, teeKey, path);
  };
}

async function jweFor(teeKey: JWK, secret: Uint8Array): Promise<string> {
  const jwe = await new FlattenedEncrypt(secret)
    .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM' })
    .encrypt(await importJWK(teeKey, 'ECDH-ES+A256KW'));
  return JSON.stringify(jwe);
}

describe('signed releases', () => {
  let kbs: TestKbs;
  let counters: VolumeCounters;
  before(async () => {
    const store = await KbsStore.open({});
    counters = new VolumeCounters(store);
    kbs = await startKbs({ store, counters });
    store.put('default/disk/other', new TextEncoder().encode('another secret'), POLICY);
  });
  after(() => kbs.close());
  const pinned = () => ({
    brokerKey: counters.publicKey as { kty: 'EC'; crv: 'P-256'; x: string; y: string },
  });

  it('a genuine release verifies against the pinned broker key', async () => {
    assert.deepEqual(await kbs.client({}, pinned()).getResource('default/disk/app'), DISK_KEY);
  });

  it('refuses a JWE the relay made itself, with no signature', async () => {
    const relay = hostileRelay(async (_answer, teeKey) => new Response(await jweFor(teeKey, FORGED)));
    await assert.rejects(
      kbs.client({}, { ...pinned(), fetch: relay }).getResource('default/disk/app'),
      /release-unsigned: default\/disk\/app: no broker signature; refused/,
    );
    // Without the pin, the same forgery would pass: what the pin is for.
    assert.deepEqual(await kbs.client({}, { fetch: relay }).getResource('default/disk/app'), FORGED);
  });

  it('refuses a forged JWE carrying the genuine signature of the real answer', async () => {
    const relay = hostileRelay(async (answer, teeKey) => {
      const signature = answer.headers.get(RELEASE_SIGNATURE_HEADER) ?? '';
      return new Response(await jweFor(teeKey, FORGED), {
        headers: { [RELEASE_SIGNATURE_HEADER]: signature },
      });
    });
    await assert.rejects(
      kbs.client({}, { ...pinned(), fetch: relay }).getResource('default/disk/app'),
      /the signature is for another answer/,
    );
  });

  it('refuses the signed answer for another resource in place of the one asked for', async () => {
    const relay: Fetch = (url, init) => fetch(url.replace('/default/disk/app', '/default/disk/other'), init);
    await assert.rejects(
      kbs.client({}, { ...pinned(), fetch: relay }).getResource('default/disk/app'),
      /the signature is for another resource/,
    );
  });

  it('refuses a signed answer replayed from another enclave key', async () => {
    let recorded: { body: string; signature: string } | undefined;
    const recorder: Fetch = async (url, init) => {
      const answer = await fetch(url, init);
      if (!url.includes('/resource/')) return answer;
      recorded = { body: await answer.text(), signature: answer.headers.get(RELEASE_SIGNATURE_HEADER) ?? '' };
      return new Response(recorded.body, { headers: { [RELEASE_SIGNATURE_HEADER]: recorded.signature } });
    };
    await kbs.client({}, { ...pinned(), fetch: recorder }).getResource('default/disk/app');
    const replay = hostileRelay(async () => {
      const { body, signature } = recorded as { body: string; signature: string };
      return new Response(body, { headers: { [RELEASE_SIGNATURE_HEADER]: signature } });
    });
    await assert.rejects(
      kbs.client({}, { ...pinned(), fetch: replay }).getResource('default/disk/app'),
      /the signature is for another enclave key/,
    );
  });

  it('refuses a signature by another key, and malformed signatures', async () => {
    const { x, y } = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    const other = {
      brokerKey: { kty: 'EC' as const, crv: 'P-256' as const, x: x as string, y: y as string },
    };
    await assert.rejects(
      kbs.client({}, other).getResource('default/disk/app'),
      /the signature is not the pinned broker key’s/,
    );
    for (const bad of ['', 'a.b', 'a.b.c', `${'A'.repeat(5000)}.x.y`, 'eyJ9.e30.AA==', 'e30.e30.AAAA']) {
      const relay = hostileRelay(async (answer) => {
        const body = await answer.text();
        return new Response(body, { headers: { [RELEASE_SIGNATURE_HEADER]: bad } });
      });
      await assert.rejects(
        kbs.client({}, { ...pinned(), fetch: relay }).getResource('default/disk/app'),
        /release-unsigned/,
        JSON.stringify(bad.slice(0, 20)),
      );
    }
  });
});
