/**
 * The key broker service over HTTP(S): the Trustee KBS protocol (RCAR) — `POST /kbs/v0/auth`,
 * `POST /kbs/v0/attest`, `GET /kbs/v0/resource/<repo>/<type>/<tag>` — with single-use, expiring
 * nonces bound to their session, evidence checked by an `EvidenceVerifier` against report data that
 * binds the nonce and the enclave key, per-resource policies, secrets released only as JWE to the
 * attested enclave key, RFC 7807 errors and an audit row for every release and refusal.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { FlattenedEncrypt, SignJWT, exportJWK, generateKeyPair, importJWK, jwtVerify } from 'jose';
import type { CryptoKey as JoseKey, JWK } from 'jose';
import { runtimeDataReportData } from '../interface/kbs/binding.ts';
import { PolicyError, checkPolicy } from '../attestation/policy.ts';
import { ADMIN_READ_PREFIX, AdminAuthError, parseSetBody, type AdminVerifier } from './admin.ts';
import type { Policy } from '../attestation/policy.ts';
import { checkReportData, claimsOf, evidenceFailureReason } from '../attestation/evidence.ts';
import { LogBudget } from './log-budget.ts';
import type { Claims, EvidenceVerifier, Verdict } from '../attestation/evidence.ts';
import { KbsProblem, escapeText, problemBody } from './problem.ts';
import {
  ProtocolError,
  SESSION_COOKIE,
  parseAttestRequest,
  parseAuthRequest,
} from '../interface/kbs/protocol.ts';
import type { Tee } from '../interface/kbs/protocol.ts';
import { isResourcePath } from './store.ts';
import { COUNTER_PATH } from '../interface/kbs/counter.ts';
import { RELEASE_SIGNATURE_HEADER } from '../interface/kbs/release.ts';
import type { VolumeCounters } from './counters.ts';
import type { KbsStore } from './store.ts';

/** Options of a key broker. */
export interface KbsOptions {
  store: KbsStore;
  verifier: EvidenceVerifier;
  /** Checked at attestation, and at release for resources without a policy of their own. */
  policy: Policy;
  /** One line per release and refusal (and per rejected request); untrusted text in it is escaped. */
  log?: (line: string) => void;
  /** How long a challenge nonce, and so an unauthenticated session, is held (default 60 s). */
  nonceTtlMs?: number;
  /** How long an attested session and its token last (default 5 minutes). */
  sessionTtlMs?: number;
  /** Largest `attest` body (default 128 KiB: a quote is at most 64 KiB, 88 KiB in base64). */
  maxBodyBytes?: number;
  /** Most unauthenticated sessions held at once (default 10000); beyond, the oldest is dropped. */
  maxPendingSessions?: number;
  /** Most unauthenticated sessions of one client address, or IPv6 /64 (default 32); beyond, its oldest is dropped. */
  maxPendingPerClient?: number;
  /** Most attested sessions held at once (default 10000); beyond, the oldest is dropped. */
  maxSessions?: number;
  /** Longest an evidence verification may take (default 10 s). */
  verifyTimeoutMs?: number;
  /** Time for a request's headers to arrive (default 10 s); then 408 and the connection is closed. */
  headersTimeoutMs?: number;
  /** Time for a whole request to arrive (default 30 s); then 408 and the connection is closed. */
  requestTimeoutMs?: number;
  /** Refusal lines logged per client in 10 s (default 20); the rest are counted in one line. */
  refusalLogLines?: number;
  /** Clock, for tests. */
  now?: () => number;
  /** Volume generation counters (`POST /kbs/v0/volume-counter`); without them the endpoint is 404. */
  counters?: VolumeCounters;
  /** Checks admin tokens for `POST /kbs/v0/resource/...` (admin.ts); without it, that is 405. */
  admin?: AdminVerifier;
}

interface Session {
  id: string;
  nonce: string;
  expiresAt: number;
  state: 'challenged' | 'consumed' | 'attested';
  /** The TEE declared at `auth`: the evidence must be of this kind. */
  tee: Tee;
  /** The client address (IPv6: its /64) that asked for it, which bounds its unauthenticated sessions. */
  client: string;
  teePubkey?: JWK;
  verdict?: Verdict;
  claims?: Claims;
}

/** An attested session: what a release is judged on. */
type Attested = Required<Pick<Session, 'teePubkey' | 'verdict' | 'claims'>> & Session;

/** Who asked, for the audit log. */
interface Requester {
  client: string | null;
  session: string | null;
  mrenclave: string | null;
}

const TOKEN_ISSUER = 'cloister-kbs';
/** Largest `auth` body: two short strings and (unused) extra parameters. */
const AUTH_BODY_BYTES = 4096;
/** A resource stored by the admin: a secret of up to 64 KiB (base64 in JSON) and maybe its policy. */
const ADMIN_BODY_BYTES = 128 * 1024;
/** A volume counter request: a UUID, a generation and a nonce. */
const COUNTER_BODY_BYTES = 4096;

/**
 * Whom unauthenticated sessions are counted against: the IPv4 address, or an IPv6 address's /64
 * (one host commonly holds a whole /64, so counting single IPv6 addresses would bound nothing).
 */
export function clientKey(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (!address.includes(':')) return address;
  const [head, tail] = address.split('%')[0].split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [
    ...left,
    ...new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'),
    ...right,
  ];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/** The policy's refusal as text, or undefined when the verdict meets it. */
function policyFailure(verdict: Verdict, policy: Policy): string | undefined {
  try {
    checkPolicy(verdict, policy);
    return undefined;
  } catch (error) {
    if (error instanceof PolicyError) return error.message;
    throw error;
  }
}
/** The first (oldest) of a Map's keys or a Set's values. */
function first(values: Iterable<string>): string {
  for (const value of values) return value;
  return '';
}

const JSON_TYPE = /^application\/json\s*(;\s*charset=utf-8\s*)?$/i;

/** The KBS request handler; `listen` wraps it in an HTTP(S) server. */
export class KeyBroker {
  /** Sessions not attested yet (challenged, or whose nonce was spent on a failed attempt), oldest first. */
  private readonly pending = new Map<string, Session>();
  /** The ids in `pending` of each client, oldest first. */
  private readonly pendingByClient = new Map<string, Set<string>>();
  /** Attested sessions, oldest first. */
  private readonly attested = new Map<string, Session>();
  /** Connections whose request timed out: already answered and recorded. */
  private readonly timedOut = new WeakSet<Socket>();
  private readonly logBudget: LogBudget;
  private readonly o: Required<Omit<KbsOptions, 'log' | 'counters' | 'admin'>> &
    Pick<KbsOptions, 'log' | 'counters' | 'admin'>;
  private tokenKey: Promise<{ privateKey: JoseKey; publicKey: JoseKey }>;

  constructor(options: KbsOptions) {
    this.o = {
      nonceTtlMs: 60_000,
      sessionTtlMs: 5 * 60_000,
      maxBodyBytes: 128 * 1024,
      maxPendingSessions: 10_000,
      maxPendingPerClient: 32,
      maxSessions: 10_000,
      verifyTimeoutMs: 10_000,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      refusalLogLines: 20,
      now: Date.now,
      ...options,
    };
    this.logBudget = new LogBudget(
      (client, held) =>
        this.o.log?.(`refuse: ${held} more refusals of client=${client} not logged (see kbs audit)`),
      this.o.refusalLogLines,
      10_000,
      () => this.o.now(),
    );
    // The token signing key lives only as long as this process: tokens do not outlive a restart.
    this.tokenKey = generateKeyPair('ES256');
  }

  /** The bounds on held sessions. */
  get limits(): { maxPendingSessions: number; maxPendingPerClient: number; maxSessions: number } {
    const { maxPendingSessions, maxPendingPerClient, maxSessions } = this.o;
    return { maxPendingSessions, maxPendingPerClient, maxSessions };
  }

  /** Sessions held now: unauthenticated, attested, and the most unauthenticated ones of one client. */
  sessionCounts(): { pending: number; attested: number; largestClient: number } {
    let largestClient = 0;
    for (const ids of this.pendingByClient.values()) largestClient = Math.max(largestClient, ids.size);
    return { pending: this.pending.size, attested: this.attested.size, largestClient };
  }

  /** Handles one request; never throws (every failure becomes a problem+json response). */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const who: Requester = { client: req.socket.remoteAddress ?? null, session: null, mrenclave: null };
    let resource: string | null = null;
    try {
      const url = new URL(req.url ?? '/', 'http://kbs');
      const path = url.pathname;
      if (path === '/kbs/v0/auth') return this.send(res, 200, await this.auth(req, res));
      if (path === '/kbs/v0/attest') return this.send(res, 200, await this.attest(req, res, who));
      if (path.startsWith(ADMIN_READ_PREFIX) && this.o.admin) {
        resource = path.slice(ADMIN_READ_PREFIX.length);
        return this.send(res, 200, await this.readBack(req, resource, who));
      }
      if (path.startsWith('/kbs/v0/resource/')) {
        resource = path.slice('/kbs/v0/resource/'.length);
        if (req.method === 'POST' && this.o.admin)
          return this.send(res, 200, await this.store(req, resource, who));
        const { body, headers } = await this.release(req, resource, who);
        return this.sendText(res, body, headers);
      }
      if (path === COUNTER_PATH && this.o.counters) {
        const { claims } = await this.authenticated(req, who);
        who.mrenclave = claims.mrenclave;
        return this.send(
          res,
          200,
          await this.o.counters.handle(await this.body(req, 'POST', COUNTER_BODY_BYTES), claims),
        );
      }
      throw new KbsProblem(404, 'not-found', `no such endpoint ${path}`);
    } catch (error) {
      if (this.timedOut.has(req.socket)) return;
      const p =
        error instanceof KbsProblem
          ? error
          : error instanceof ProtocolError
            ? new KbsProblem(400, 'bad-request', error.message)
            : new KbsProblem(500, 'internal', error instanceof Error ? error.message : String(error));
      this.refuse(p, resource, who);
      if (!res.headersSent) {
        const body = problemBody(p, req.url?.slice(0, 256));
        res.writeHead(p.status, {
          'content-type': 'application/problem+json',
          'content-length': Buffer.byteLength(body),
          ...(p.status === 413 || p.status === 408 ? { connection: 'close' } : {}),
        });
        res.end(body);
      }
    }
  }

  /** Starts an HTTP server (HTTPS with `tls`) on `host:port` (port 0: any free port). */
  async listen(options: {
    host?: string;
    port?: number;
    tls?: { cert: string | Buffer; key: string | Buffer };
  }): Promise<{ url: string; server: Server; close: () => Promise<void> }> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.handle(req, res);
    const limits = {
      maxHeaderSize: 16 * 1024,
      headersTimeout: this.o.headersTimeoutMs,
      requestTimeout: this.o.requestTimeoutMs,
      // How often Node looks for connections over those times (its default, 30 s, would let a
      // trickling client hold a connection three times longer than the header timeout).
      connectionsCheckingInterval: Math.min(1_000, this.o.headersTimeoutMs / 2),
    };
    const server: Server = options.tls
      ? createHttpsServer({ ...options.tls, ...limits }, handler)
      : createHttpServer(limits, handler);
    server.keepAliveTimeout = 5_000;
    server.timeout = 60_000;
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) =>
      this.clientError(error, socket),
    );
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 8080, host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const url = `${options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const close = (): Promise<void> =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    return { url, server, close };
  }

  /**
   * A new unauthenticated session. Never refused for lack of room: the client's oldest pending
   * session makes way when it holds its share, else the oldest of all, so a flood costs its sender
   * its own sessions and everyone else only the time it leaves them between `auth` and `attest`.
   */
  private async auth(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const { tee } = parseAuthRequest(await this.body(req, 'POST', AUTH_BODY_BYTES));
    const now = this.o.now();
    this.expire(this.pending, now);
    const client = clientKey(req.socket.remoteAddress);
    const own = this.pendingByClient.get(client);
    if (own !== undefined && own.size >= this.o.maxPendingPerClient) this.dropPending(first(own));
    if (this.pending.size >= this.o.maxPendingSessions) this.dropPending(first(this.pending.keys()));
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      nonce: randomBytes(32).toString('base64url'),
      expiresAt: now + this.o.nonceTtlMs,
      state: 'challenged',
      tee,
      client,
    };
    this.pending.set(session.id, session);
    this.pendingByClient.set(client, (own ?? new Set()).add(session.id));
    this.setCookie(res, session);
    return { nonce: session.nonce, 'extra-params': {} };
  }

  private async attest(req: IncomingMessage, res: ServerResponse, who: Requester): Promise<unknown> {
    const session = this.cookieSession(req);
    if (session === undefined) {
      throw new KbsProblem(401, 'no-session', 'no challenge for this request: POST /kbs/v0/auth first');
    }
    who.session = session.id.slice(0, 12);
    const now = this.o.now();
    if (session.state !== 'challenged') {
      throw new KbsProblem(401, 'nonce-used', 'the nonce of this session was already used');
    }
    // Single use: whatever happens next, this nonce is spent.
    session.state = 'consumed';
    if (now > session.expiresAt) {
      this.dropPending(session.id);
      throw new KbsProblem(401, 'nonce-expired', 'the nonce of this session has expired');
    }
    const { request, quote } = parseAttestRequest(await this.body(req, 'POST', this.o.maxBodyBytes));
    const runtimeData = request['runtime-data'];
    if (runtimeData.nonce !== session.nonce) {
      throw new KbsProblem(401, 'nonce-mismatch', 'runtime-data.nonce is not the nonce of this session');
    }
    let publicKey: JWK;
    try {
      publicKey = runtimeData['tee-pubkey'] as JWK;
      await importJWK(publicKey, publicKey.kty === 'EC' ? 'ECDH-ES+A256KW' : 'RSA-OAEP-256');
    } catch (error) {
      throw new ProtocolError(`tee-pubkey: not a usable key (${(error as Error).message})`);
    }
    const reportData = runtimeDataReportData(runtimeData);
    let verdict: Verdict;
    try {
      verdict = await this.withTimeout(Promise.resolve(this.o.verifier(quote, reportData)));
      checkReportData(verdict, reportData);
    } catch (error) {
      throw new KbsProblem(401, 'evidence-refused', evidenceFailureReason(error));
    }
    const claims = claimsOf(verdict);
    who.mrenclave = claims.mrenclave;
    if (claims.tee !== session.tee) {
      throw new KbsProblem(
        401,
        'tee-mismatch',
        `the session declared ${session.tee} at auth, but the evidence is ${claims.tee === 'sgx' ? 'an sgx' : 'a tdx'} quote`,
      );
    }
    const failure = policyFailure(verdict, this.o.policy);
    if (failure !== undefined) throw new KbsProblem(401, 'policy-refused', `attestation ${failure}`);
    session.state = 'attested';
    session.teePubkey = publicKey;
    session.verdict = verdict;
    session.claims = claims;
    session.expiresAt = now + this.o.sessionTtlMs;
    this.dropPending(session.id);
    this.expire(this.attested, now);
    if (this.attested.size >= this.o.maxSessions) this.attested.delete(first(this.attested.keys()));
    this.attested.set(session.id, session);
    this.setCookie(res, session);
    this.o.log?.(`attested session ${who.session} mrenclave=${claims.mrenclave} tcb=${claims.tcbStatus}`);
    return { token: await this.token(session) };
  }

  private async release(
    req: IncomingMessage,
    path: string,
    who: Requester,
  ): Promise<{ body: string; headers: Record<string, string> }> {
    if (req.method !== 'GET') throw new KbsProblem(405, 'method', `${req.method} is not allowed here`);
    const { teePubkey, verdict, claims } = await this.authenticated(req, who);
    who.mrenclave = claims.mrenclave;
    const entry = isResourcePath(path) ? this.o.store.get(path) : undefined;
    if (entry === undefined) throw new KbsProblem(404, 'no-resource', `no resource ${path}`);
    const failure = policyFailure(verdict, entry.policy ?? this.o.policy);
    if (failure !== undefined) throw new KbsProblem(403, 'policy-refused', `resource ${failure}`);
    const rsa = teePubkey.kty === 'RSA';
    const alg = rsa ? 'RSA-OAEP-256' : 'ECDH-ES+A256KW';
    const jwe = await new FlattenedEncrypt(entry.secret)
      .setProtectedHeader({ alg, enc: 'A256GCM' })
      .encrypt(await importJWK(teePubkey, alg));
    // Signed with the broker key, when there is one: an enclave pinning it accepts nothing else.
    const body = JSON.stringify(jwe);
    const signature = await this.o.counters?.signRelease(path, body, teePubkey);
    this.o.store.audit({ event: 'release', resource: path, ...who, reason: 'policy met' });
    this.o.log?.(`release ${path} to session ${who.session} mrenclave=${claims.mrenclave}`);
    return { body, headers: signature === undefined ? {} : { [RELEASE_SIGNATURE_HEADER]: signature } };
  }

  /**
   * The stored secret, back to its administrator (`GET /kbs/v0/admin/resource/<path>`, a token for
   * GET, this path and an empty body): a data owner re-opening results keeps the key nowhere else.
   */
  private async readBack(req: IncomingMessage, path: string, who: Requester): Promise<unknown> {
    if (req.method !== 'GET') throw new KbsProblem(405, 'method', `${req.method} is not allowed here`);
    try {
      await this.o.admin?.check(req.headers.authorization, path, new Uint8Array(0), 'GET');
    } catch (error) {
      if (error instanceof AdminAuthError) throw new KbsProblem(401, 'admin-refused', error.message);
      throw error;
    }
    const entry = isResourcePath(path) ? this.o.store.get(path) : undefined;
    if (entry === undefined) throw new KbsProblem(404, 'no-resource', `no resource ${path}`);
    this.o.store.audit({ event: 'release', resource: path, ...who, reason: 'read back by the admin' });
    this.o.log?.(`release ${path} to the admin`);
    return { secret: Buffer.from(entry.secret).toString('base64') };
  }

  /**
   * Stores (or replaces) a resource for the admin: the body is the secret (`application/octet-stream`,
   * as Trustee's client sends it) or `{"secret": base64, "policy"?: {...}}` (JSON, with a policy of
   * its own); the token must be the admin key's, for this path and exactly this body.
   */
  private async store(req: IncomingMessage, path: string, who: Requester): Promise<unknown> {
    if (!isResourcePath(path)) throw new KbsProblem(404, 'no-resource', `${path} is not repo/type/tag`);
    const raw = await this.rawBody(req, ADMIN_BODY_BYTES);
    try {
      await this.o.admin?.check(req.headers.authorization, path, raw);
    } catch (error) {
      if (error instanceof AdminAuthError) throw new KbsProblem(401, 'admin-refused', error.message);
      throw error;
    }
    const { secret, policy } = parseSetBody(req.headers['content-type'] ?? '', Buffer.from(raw));
    this.o.store.put(path, secret, policy);
    const what = `${secret.length} bytes${policy ? ', with its own policy' : ''}`;
    this.o.store.audit({ event: 'store', resource: path, ...who, reason: `${what}, by the admin` });
    this.o.log?.(`stored ${path} (${what}) by the admin`);
    return { stored: path, bytes: secret.length };
  }

  /**
   * The attested session of a resource request, named by its cookie or by the attestation token
   * (bearer), which carries the session id under the KBS's signature.
   */
  private async authenticated(req: IncomingMessage, who: Requester): Promise<Attested> {
    const bearer = /^Bearer ([A-Za-z0-9._-]{1,8192})$/.exec(req.headers.authorization ?? '');
    let session: Session | undefined;
    if (bearer) {
      try {
        const { payload } = await jwtVerify(bearer[1], (await this.tokenKey).publicKey, {
          issuer: TOKEN_ISSUER,
          algorithms: ['ES256'],
          currentDate: new Date(this.o.now()),
        });
        session = this.attested.get(String(payload.sid));
      } catch (error) {
        throw new KbsProblem(401, 'bad-token', `attestation token refused: ${(error as Error).message}`);
      }
    } else {
      session = this.cookieSession(req);
    }
    who.session = session?.id.slice(0, 12) ?? null;
    if (session === undefined || session.state !== 'attested') {
      throw new KbsProblem(401, 'not-attested', 'this session has not attested: auth and attest first');
    }
    if (this.o.now() > session.expiresAt) {
      this.attested.delete(session.id);
      throw new KbsProblem(401, 'session-expired', 'the attested session has expired');
    }
    return session as Attested;
  }

  private async token(session: Session): Promise<string> {
    return new SignJWT({
      'tee-pubkey': session.teePubkey,
      claims: session.claims,
      // The session the token stands for; a bearer of the token is that session.
      sid: session.id,
      jwk: await exportJWK((await this.tokenKey).publicKey),
    } as Record<string, unknown>)
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setIssuer(TOKEN_ISSUER)
      .setIssuedAt(Math.floor(this.o.now() / 1000))
      .setExpirationTime(Math.floor(session.expiresAt / 1000))
      .sign((await this.tokenKey).privateKey);
  }

  private cookieSession(req: IncomingMessage): Session | undefined {
    const cookies = (req.headers.cookie ?? '').split(';').map((c) => c.trim());
    const found = cookies.find((c) => c.startsWith(`${SESSION_COOKIE}=`));
    if (found === undefined) return undefined;
    const id = found.slice(SESSION_COOKIE.length + 1);
    return this.pending.get(id) ?? this.attested.get(id);
  }

  private setCookie(res: ServerResponse, session: Session): void {
    const maxAge = Math.max(0, Math.floor((session.expiresAt - this.o.now()) / 1000));
    res.setHeader(
      'set-cookie',
      `${SESSION_COOKIE}=${session.id}; Max-Age=${maxAge}; Path=/kbs; HttpOnly; SameSite=Strict`,
    );
  }

  /** Drops the expired sessions at the front of `sessions` (ordered by expiry: one lifetime each). */
  private expire(sessions: Map<string, Session>, now: number): void {
    for (const [id, s] of sessions) {
      if (now <= s.expiresAt) return;
      if (sessions === this.pending) this.dropPending(id);
      else sessions.delete(id);
    }
  }

  private dropPending(id: string): void {
    const session = this.pending.get(id);
    if (session === undefined) return;
    this.pending.delete(id);
    const own = this.pendingByClient.get(session.client);
    own?.delete(id);
    if (own?.size === 0) this.pendingByClient.delete(session.client);
  }

  /**
   * A connection Node gave up on: a request (or its headers) that did not arrive in time gets a
   * 408 and is recorded; anything else (malformed HTTP) just closes the connection.
   */
  private clientError(error: NodeJS.ErrnoException, socket: Socket): void {
    if (error.code !== 'ERR_HTTP_REQUEST_TIMEOUT' || !socket.writable) {
      socket.destroy();
      return;
    }
    this.timedOut.add(socket);
    const p = new KbsProblem(408, 'timeout', 'the request did not arrive in time');
    const body = problemBody(p);
    socket.end(
      `HTTP/1.1 408 Request Timeout\r\nContent-Type: application/problem+json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    socket.destroySoon();
    this.refuse(p, null, { client: socket.remoteAddress ?? null, session: null, mrenclave: null });
  }

  /** Reads a JSON body: method, content type and size checked, parsed with `JSON.parse`. */
  private async body(req: IncomingMessage, method: string, limit: number): Promise<unknown> {
    if (req.method !== method) throw new KbsProblem(405, 'method', `${req.method} is not allowed here`);
    if (!JSON_TYPE.test(req.headers['content-type'] ?? '')) {
      throw new KbsProblem(415, 'content-type', 'the body must be application/json');
    }
    const raw = await this.rawBody(req, limit);
    try {
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
    } catch (error) {
      throw new ProtocolError(`the body is not JSON: ${(error as Error).message}`);
    }
  }

  /** Reads a body of any type, at most `limit` bytes. */
  private async rawBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
    if (Number(req.headers['content-length'] ?? 0) > limit) {
      throw new KbsProblem(413, 'too-large', `the body exceeds ${limit} bytes`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new KbsProblem(413, 'too-large', `the body exceeds ${limit} bytes`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  private async withTimeout<T>(work: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('evidence verification timed out')), this.o.verifyTimeoutMs);
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private send(res: ServerResponse, status: number, value: unknown): void {
    this.sendText(res, JSON.stringify(value), {}, status);
  }

  private sendText(res: ServerResponse, body: string, headers: Record<string, string>, status = 200): void {
    res.writeHead(status, {
      ...headers,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  /** Records a refusal; what came from the client (resource path, detail) is cut and escaped. */
  private refuse(p: KbsProblem, resource: string | null, who: Requester): void {
    const reason = `${p.status} ${p.code}: ${p.detail}`;
    const path = resource === null ? null : escapeText(resource, 256);
    this.o.store.audit({ event: 'refuse', resource: path, ...who, reason });
    if (!this.logBudget.take(clientKey(who.client ?? undefined))) return;
    this.o.log?.(
      `refuse ${path ?? '-'} session=${who.session ?? '-'} client=${who.client ?? '-'}: reason="${reason}"`,
    );
  }
}
