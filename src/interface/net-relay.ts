/**
 * The one network service the runtime (not the program) uses: HTTP requests to the key broker,
 * relayed by the untrusted host. The payloads are JSON; what the key broker sends back is bound to
 * the enclave's attested key (a JWE), so the relay learns only sizes and timing.
 */

export interface RelayedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** Base64. */
  body: string;
}

export interface RelayedResponse {
  status: number;
  headers: Record<string, string>;
  /** Base64. */
  body: string;
}

/** Mailbox operation of the host's network relay. */
export const NET_FETCH = 1;
