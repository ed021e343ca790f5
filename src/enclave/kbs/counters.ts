/**
 * The enclave side of the key broker's volume counters: a `GenerationRecord` whose every answer is a
 * JWS the enclave verifies against the broker key pinned in its measured configuration, over the
 * volume, this enclave's identity and a nonce drawn for that one request. The host relays the HTTP
 * exchange and holds the session cookie, so without that signature it could answer anything, or
 * replay an old answer; with it, it can only withhold answers (the run then stops, see freshness.ts).
 *
 * Synchronous, because a volume commit is: HTTP goes through the relay's blocking host call, the
 * session is attested with a quote (also synchronous), and signatures are checked with node:crypto.
 */
import {
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  verify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import {
  COUNTER_JWS_TYPE,
  COUNTER_PATH,
  parseCounterClaims,
  type CounterRequest,
} from '../../interface/kbs/counter.ts';
import { runtimeDataReportData, type RuntimeData } from '../../interface/kbs/binding.ts';
import { KBS_PROTOCOL_VERSION, SESSION_COOKIE, encodeBase64 } from '../../interface/kbs/protocol.ts';
import type { GenerationRecord } from '../volume/freshness.ts';
import { HostProtocolError } from '../ring/channel.ts';

/** One HTTP exchange, synchronously (the host relay). */
export type SyncHttp = (request: {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Uint8Array;
}) => { status: number; headers: Record<string, string>; body: Uint8Array };

/** The counter service failed or answered something this enclave cannot accept. */
export class CounterError extends Error {
  override name = 'CounterError';
}

/** What a reply must say: the volume and identity asked about, and this request's nonce. */
export interface ExpectedReply {
  volume: string;
  identity: string;
  nonce: string;
}

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const MAX_JWS = 4096;

/** The pinned broker key (a public P-256 JWK), refused unless it is exactly that. */
export function brokerPublicKey(jwk: JsonWebKey): KeyObject {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256')
    throw new CounterError('the broker key must be an EC P-256 key');
  return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, format: 'jwk' });
}

/**
 * Verifies a counter reply: compact JWS, header `{"alg":"ES256","typ":COUNTER_JWS_TYPE,...}`, a valid
 * signature by `brokerKey`, and claims naming the expected volume, identity and nonce. Returns the
 * generation it vouches for.
 */
export function verifyCounterReply(jws: string, brokerKey: KeyObject, expected: ExpectedReply): number {
  if (jws.length > MAX_JWS) throw new CounterError('counter reply: too large');
  const parts = jws.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p)))
    throw new CounterError('counter reply: not a compact JWS');
  // Canonical base64url only: no two texts of one reply (Buffer would ignore a last character's spare bits).
  const decoded = parts.map((p) => Buffer.from(p, 'base64url'));
  if (decoded.some((bytes, i) => bytes.toString('base64url') !== parts[i]))
    throw new CounterError('counter reply: not canonical base64url');
  const [head, payload] = parts;
  let header: { alg?: unknown; typ?: unknown; crit?: unknown };
  try {
    header = JSON.parse(decoded[0].toString('utf8')) as typeof header;
  } catch {
    throw new CounterError('counter reply: malformed JWS header');
  }
  if (header?.alg !== 'ES256' || header.typ !== COUNTER_JWS_TYPE || header.crit !== undefined)
    throw new CounterError('counter reply: not an ES256 counter signature');
  const signed = verify(
    'sha256',
    Buffer.from(`${head}.${payload}`, 'ascii'),
    { key: brokerKey, dsaEncoding: 'ieee-p1363' },
    decoded[2],
  );
  if (!signed) throw new CounterError('counter reply: the signature is not the pinned broker key’s');
  let claims;
  try {
    claims = parseCounterClaims(JSON.parse(decoded[1].toString('utf8')));
  } catch (error) {
    throw new CounterError(`counter reply: ${(error as Error).message}`);
  }
  if (claims.nonce !== expected.nonce)
    throw new CounterError('counter reply: answers another request (nonce differs: replayed?)');
  if (claims.volume !== expected.volume) throw new CounterError('counter reply: about another volume');
  if (claims.identity !== expected.identity)
    throw new CounterError(`counter reply: for another enclave identity (${claims.identity})`);
  return claims.generation;
}

/** Options of {@link BrokerCounters}. */
export interface BrokerCountersOptions {
  /** KBS base URL. */
  url: string;
  http: SyncHttp;
  /** A quote of this enclave with the given report data. */
  evidence: (reportData: Uint8Array) => Uint8Array;
  /** This enclave's counter identity (`counterIdentity` of its own REPORT). */
  identity: string;
  /** The pinned broker key. */
  brokerKey: JsonWebKey;
}

/** The key broker's counters as a `GenerationRecord`, over an attested session of their own. */
export class BrokerCounters implements GenerationRecord {
  private cookie: string | undefined;
  private readonly key: KeyObject;

  constructor(private readonly o: BrokerCountersOptions) {
    this.key = brokerPublicKey(o.brokerKey);
  }

  recorded(uuid: string): number {
    return this.exchange(uuid);
  }

  advance(uuid: string, generation: number): void {
    const recorded = this.exchange(uuid, generation);
    if (recorded !== generation)
      throw new CounterError(`the broker recorded generation ${recorded} instead of ${generation}`);
  }

  private exchange(volume: string, generation?: number): number {
    const nonce = b64url(randomBytes(32));
    const request: CounterRequest = { volume, nonce, ...(generation !== undefined && { generation }) };
    if (this.cookie === undefined) this.attest();
    let reply = this.post(COUNTER_PATH, request);
    // Sessions expire (5 minutes by default): attest once more and retry.
    if (reply.status === 401) {
      this.attest();
      reply = this.post(COUNTER_PATH, request);
    }
    const body = this.json(reply, 'counter');
    const jws = (body as { jws?: unknown })?.jws;
    if (typeof jws !== 'string') throw new CounterError('counter reply: no JWS');
    return verifyCounterReply(jws, this.key, { volume, identity: this.o.identity, nonce });
  }

  /** auth + attest (RCAR) with a throwaway key: the counters need the session, not a key to decrypt. */
  private attest(): void {
    this.cookie = undefined;
    const challenge = this.json(
      this.post('/kbs/v0/auth', { version: KBS_PROTOCOL_VERSION, tee: 'sgx', 'extra-params': {} }),
      'auth',
    ) as { nonce?: unknown };
    if (typeof challenge?.nonce !== 'string') throw new CounterError('KBS auth: no nonce');
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { x, y } = publicKey.export({ format: 'jwk' });
    const runtimeData: RuntimeData = {
      nonce: challenge.nonce,
      'tee-pubkey': { kty: 'EC', crv: 'P-256', x, y, alg: 'ECDH-ES+A256KW' },
    };
    const quote = this.o.evidence(runtimeDataReportData(runtimeData));
    this.json(
      this.post('/kbs/v0/attest', {
        'runtime-data': runtimeData,
        'tee-evidence': { primary_evidence: { quote: encodeBase64(quote) }, additional_evidence: '' },
      }),
      'attest',
    );
  }

  private post(path: string, body: unknown): { status: number; body: Uint8Array } {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.cookie !== undefined) headers.cookie = `${SESSION_COOKIE}=${this.cookie}`;
    let reply: ReturnType<SyncHttp>;
    try {
      reply = this.o.http({
        method: 'POST',
        url: new URL(path, this.o.url).toString(),
        headers,
        body: new TextEncoder().encode(JSON.stringify(body)),
      });
    } catch (error) {
      // A broken ring stays what it is; anything else means the broker could not be reached.
      if (error instanceof HostProtocolError) throw error;
      throw new CounterError(`key broker unreachable (${(error as Error).message})`);
    }
    const setCookie = Object.entries(reply.headers).find(([k]) => k.toLowerCase() === 'set-cookie')?.[1];
    const cookie = new RegExp(`(?:^|[,;]\\s*)${SESSION_COOKIE}=([A-Za-z0-9_-]+)`).exec(setCookie ?? '');
    if (cookie) this.cookie = cookie[1];
    return reply;
  }

  private json(reply: { status: number; body: Uint8Array }, what: string): unknown {
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(reply.body));
    } catch {
      throw new CounterError(`KBS ${what}: ${reply.status}, not JSON`);
    }
    if (reply.status !== 200) {
      const p = value as { type?: unknown; detail?: unknown };
      const code = typeof p?.type === 'string' ? p.type.replace(/^urn:cloister:kbs:/, '') : 'http';
      const detail = typeof p?.detail === 'string' ? p.detail.slice(0, 300) : '';
      throw new CounterError(`KBS ${what}: ${reply.status} ${code}: ${detail}`);
    }
    return value;
  }
}
