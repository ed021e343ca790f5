/**
 * The host side of the runtime's network relay: performs the enclave's HTTP requests to the key
 * broker it was told about (`--kbs`), and to nothing else. A request that gets no HTTP answer is
 * answered with what failed (connection refused, TLS certificate not trusted, timeout, ...), so the
 * enclave can say so instead of a bare errno.
 */
import { Agent, request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { serveMailbox, type MailboxReply } from '../interface/mailbox.ts';
import {
  NET_FETCH,
  type RelayFailure,
  type RelayedRequest,
  type RelayedResponse,
} from '../interface/net-relay.ts';

const TIMEOUT_MS = 30_000;
/** The reply crosses one 64 KiB ring slot as base64 inside JSON: 40 KiB of body fits. */
const MAX_BODY = 40 * 1024;
const encoder = new TextEncoder();

function reply(value: RelayedResponse): MailboxReply {
  return { status: 0, data: encoder.encode(JSON.stringify(value)) };
}

function failed(failure: RelayFailure, detail: string): MailboxReply {
  return reply({ status: 0, headers: {}, body: '', failure, detail: detail.slice(0, 300) });
}

/** What a Node network error means, as one of the relay's failure codes. */
export function relayFailureOf(error: NodeJS.ErrnoException): RelayFailure {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection-refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host-not-found';
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return 'unreachable';
    case 'ETIMEDOUT':
    case 'ABORT_ERR':
      return 'timeout';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection-reset';
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_SIGNATURE_FAILURE':
    case 'CERT_UNTRUSTED':
      return 'tls-untrusted';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return 'tls-name-mismatch';
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return 'tls-expired';
    default:
      return error.code?.startsWith('ERR_SSL') || error.code?.startsWith('ERR_TLS') ? 'tls-failed' : 'other';
  }
}

export interface NetRelayOptions {
  /** Extra CA certificates (PEM) the host trusts for an https broker (`--kbs-ca`). */
  ca?: string | Buffer;
}

/** One HTTP(S) exchange; resolves to the relayed answer or failure, never rejects. */
export function relayExchange(
  request: RelayedRequest,
  agent?: Agent,
  timeoutMs = TIMEOUT_MS,
): Promise<MailboxReply> {
  return new Promise((resolve) => {
    const url = new URL(request.url);
    const body = request.body ? Buffer.from(request.body, 'base64') : undefined;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, {
      method: request.method,
      headers: { ...request.headers, ...(body && { 'content-length': String(body.length) }) },
      timeout: timeoutMs,
      ...(agent && url.protocol === 'https:' && { agent }),
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (error: NodeJS.ErrnoException) => resolve(failed(relayFailureOf(error), error.message)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY) {
          res.destroy();
          resolve(failed('too-large', `more than ${MAX_BODY} bytes`));
        } else chunks.push(chunk);
      });
      res.on('error', (error: NodeJS.ErrnoException) =>
        resolve(failed(relayFailureOf(error), error.message)),
      );
      res.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers))
          if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
        resolve(
          reply({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('base64') }),
        );
      });
    });
    req.end(body);
  });
}

/** Serves relay requests for `origin` (e.g. http://127.0.0.1:8080); returns the stop function. */
export function serveNetRelay(
  mailbox: SharedArrayBuffer,
  origin: string,
  options: NetRelayOptions = {},
): () => void {
  const agent = options.ca ? new Agent({ ca: options.ca, keepAlive: false }) : undefined;
  return serveMailbox(mailbox, async (op, data) => {
    if (op !== NET_FETCH) return failed('other', `unknown relay operation ${op}`);
    let request: RelayedRequest;
    try {
      request = JSON.parse(new TextDecoder().decode(data)) as RelayedRequest;
      if (new URL(request.url).origin !== origin) return failed('not-allowed', `not ${origin}`);
    } catch (error) {
      return failed('other', `malformed relay request: ${(error as Error).message}`);
    }
    return relayExchange(request, agent);
  });
}
