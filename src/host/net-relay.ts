/**
 * The host side of the runtime's network relay: performs the enclave's HTTP requests to the key
 * broker it was told about (`--kbs`), and to nothing else.
 */
import { serveMailbox, type MailboxReply } from '../interface/mailbox.ts';
import { NET_FETCH, type RelayedRequest, type RelayedResponse } from '../interface/net-relay.ts';

const TIMEOUT_MS = 30_000;
const encoder = new TextEncoder();

function reply(status: number, value?: RelayedResponse): MailboxReply {
  return { status, data: value ? encoder.encode(JSON.stringify(value)) : new Uint8Array(0) };
}

/** Serves relay requests for `origin` (e.g. http://127.0.0.1:8080); returns the stop function. */
export function serveNetRelay(mailbox: SharedArrayBuffer, origin: string): () => void {
  return serveMailbox(mailbox, async (op, data) => {
    if (op !== NET_FETCH) return reply(2);
    const request = JSON.parse(new TextDecoder().decode(data)) as RelayedRequest;
    if (new URL(request.url).origin !== origin) return reply(3);
    try {
      const response = await fetch(request.url, {
        method: request.method,
        headers: request.headers,
        body: request.body ? Buffer.from(request.body, 'base64') : undefined,
        signal: AbortSignal.timeout(TIMEOUT_MS),
        redirect: 'manual',
      });
      const body = Buffer.from(await response.arrayBuffer()).toString('base64');
      return reply(0, { status: response.status, headers: Object.fromEntries(response.headers), body });
    } catch {
      return reply(4);
    }
  });
}
