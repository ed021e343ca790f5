/**
 * The one network service the runtime (not the program) uses: HTTP requests to the key broker,
 * relayed by the untrusted host. The payloads are JSON; what the key broker sends back is bound to
 * the enclave's attested key (a JWE) and, with a pinned broker key, signed by the broker, so the
 * relay learns only sizes and timing and cannot forge an answer.
 */

export interface RelayedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** Base64. */
  body: string;
}

/** Why the host could not get an HTTP answer at all (the broker's own refusals are HTTP answers). */
export const RELAY_FAILURES = {
  'connection-refused': 'connection refused (is the key broker running, on that port?)',
  'host-not-found': 'no such host (the name does not resolve)',
  unreachable: 'network unreachable',
  timeout: 'no answer in time (timed out)',
  'connection-reset': 'the connection was closed before an answer came',
  'tls-untrusted':
    "the broker's TLS certificate is not trusted by the host (self-signed or private CA? give --kbs-ca FILE)",
  'tls-name-mismatch': "the broker's TLS certificate is for another host name",
  'tls-expired': "the broker's TLS certificate has expired or is not valid yet",
  'tls-failed': 'the TLS handshake failed',
  'not-allowed': 'the host relays requests only to the key broker given with --kbs',
  'too-large': 'the answer is too large to relay',
  other: 'the request failed',
} as const;

export type RelayFailure = keyof typeof RELAY_FAILURES;

/** Either an HTTP answer (`status`), or `failure` when the host got none. */
export interface RelayedResponse {
  status: number;
  headers: Record<string, string>;
  /** Base64. */
  body: string;
  /** Set (and `status` 0) when there is no HTTP answer. */
  failure?: RelayFailure;
  /** The host's own words for the failure (untrusted text: shown only escaped and cut). */
  detail?: string;
}

/** Mailbox operation of the host's network relay. */
export const NET_FETCH = 1;
