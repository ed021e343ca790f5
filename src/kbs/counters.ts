/**
 * Volume generation counters kept by the key broker, for rollback protection of enclave volumes:
 * one monotonic counter per (enclave identity, volume UUID), sealed at rest under the store's master
 * key, read and advanced only by attested sessions, never decreased, written durably before the
 * reply. Every reply is a JWS signed with the broker key — long-lived, kept sealed in the store, its
 * public half pinned in the enclave's measured configuration (`cloister run --kbs-key`) — over the
 * enclave's nonce, so that a host relaying the exchange can neither forge nor replay an answer.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { RELEASE_JWS_TYPE, type ReleaseClaims } from '../interface/kbs/release.ts';
import { CompactSign, calculateJwkThumbprint, type JWK } from 'jose';
import {
  COUNTER_JWS_TYPE,
  counterIdentity,
  parseCounterRequest,
  type CounterClaims,
} from '../interface/kbs/counter.ts';
import type { Claims } from '../attestation/evidence.ts';
import { KbsProblem } from './problem.ts';
import type { KbsStore } from './store.ts';

/** One statement each (`KbsStore.run` prepares a single statement). */
const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS broker_key (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     sealed BLOB NOT NULL
   )`,
  `CREATE TABLE IF NOT EXISTS volume_counters (
     identity TEXT NOT NULL,
     volume TEXT NOT NULL,
     sealed BLOB NOT NULL,
     updated TEXT NOT NULL,
     PRIMARY KEY (identity, volume)
   )`,
];
const createTables = (store: KbsStore): void => SCHEMA.forEach((sql) => store.run(sql));

const KEY_AAD = 'broker-key';
const counterAad = (identity: string, volume: string): string => `volume-counter:${identity}:${volume}`;

/** The public half of the broker key as a JWK (what `--kbs-key` pins). */
export function publicJwk(key: KeyObject): JWK {
  const { kty, crv, x, y } = createPublicKey(key).export({ format: 'jwk' });
  return { kty, crv, x, y };
}

/** The broker key of `store`, created (P-256, sealed under the master key) on first use. */
export function brokerKey(store: KbsStore): KeyObject {
  createTables(store);
  const row = store.rows('SELECT sealed FROM broker_key WHERE id = 1')[0];
  if (row !== undefined) {
    const der = store.unseal(KEY_AAD, row[0] as Uint8Array);
    return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
  }
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  store.run('INSERT INTO broker_key (id, sealed) VALUES (1, ?)', [store.seal(KEY_AAD, der)]);
  store.flush();
  return privateKey;
}

/** The counters and the signing of their replies. */
export class VolumeCounters {
  private readonly kid: Promise<string>;

  constructor(
    private readonly store: KbsStore,
    private readonly key: KeyObject = brokerKey(store),
  ) {
    createTables(store);
    this.kid = calculateJwkThumbprint(publicJwk(key));
  }

  /** The broker key's public JWK. */
  get publicKey(): JWK {
    return publicJwk(this.key);
  }

  /** The recorded generation, 0 when there is none. */
  get(identity: string, volume: string): number {
    const row = this.store.rows('SELECT sealed FROM volume_counters WHERE identity = ? AND volume = ?', [
      identity,
      volume,
    ])[0];
    if (row === undefined) return 0;
    const plain = this.store.unseal(counterAad(identity, volume), row[0] as Uint8Array);
    if (plain.length !== 8) throw new Error(`counter of volume ${volume}: malformed record`);
    return Number(new DataView(plain.buffer, plain.byteOffset, 8).getBigUint64(0));
  }

  /**
   * Answers one request of an attested session whose evidence gave `claims`: reads, or advances
   * (durably, before answering), the counter of the requested volume under the session's identity.
   */
  async handle(body: unknown, claims: Claims): Promise<{ jws: string }> {
    const request = parseCounterRequest(body);
    const identity = counterIdentity(claims);
    const current = this.get(identity, request.volume);
    let generation = current;
    if (request.generation !== undefined) {
      if (request.generation < current) {
        throw new KbsProblem(
          409,
          'counter-decrease',
          `volume ${request.volume}: generation ${request.generation} is below the recorded ${current}; a counter never goes back`,
        );
      }
      if (request.generation > current) this.set(identity, request.volume, request.generation);
      generation = request.generation;
    }
    const reply: CounterClaims = {
      typ: COUNTER_JWS_TYPE,
      volume: request.volume,
      identity,
      generation,
      nonce: request.nonce,
    };
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(reply)))
      .setProtectedHeader({ alg: 'ES256', typ: COUNTER_JWS_TYPE, kid: await this.kid })
      .sign(this.key);
    return { jws };
  }

  /** The header value signing a release of `resource` whose response body is `body` (release.ts). */
  async signRelease(resource: string, body: string, teeKey: JWK): Promise<string> {
    const claims: ReleaseClaims = {
      typ: RELEASE_JWS_TYPE,
      resource,
      'jwe-sha256': createHash('sha256').update(body).digest('base64url'),
      'tee-key': await calculateJwkThumbprint(teeKey),
    };
    return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ alg: 'ES256', typ: RELEASE_JWS_TYPE, kid: await this.kid })
      .sign(this.key);
  }

  private set(identity: string, volume: string, generation: number): void {
    const value = new Uint8Array(8);
    new DataView(value.buffer).setBigUint64(0, BigInt(generation));
    this.store.run(
      'INSERT INTO volume_counters (identity, volume, sealed, updated) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT(identity, volume) DO UPDATE SET sealed = excluded.sealed, updated = excluded.updated',
      [identity, volume, this.store.seal(counterAad(identity, volume), value), new Date().toISOString()],
    );
    // Durable before the enclave hears of it: an acknowledged generation is never forgotten.
    this.store.flush();
  }
}
