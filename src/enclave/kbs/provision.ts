/**
 * Fetches the root image's key from the key broker named in the measured configuration: the
 * enclave attests with a quote binding the broker's nonce and a fresh key pair, and receives the
 * key encrypted to that key pair. The host relays the HTTP exchange and never sees the key.
 */
import { Calls } from '../../interface/calls.ts';
import { decodeUtf8, encodeUtf8 } from '../../interface/codec.ts';
import { RELAY_FAILURES, type RelayedRequest, type RelayedResponse } from '../../interface/net-relay.ts';
import type { KbsConfig } from '../../interface/run-config.ts';
import type { Platform } from '../attest/platform-client.ts';
import type { HostChannel } from '../ring/channel.ts';
import { hostCall } from '../ring/stubs.ts';
import { fetchKbsResource, KbsClientError, type Fetch } from './client.ts';
import { BrokerCounters, type SyncHttp } from './counters.ts';
import { counterIdentity } from '../../interface/kbs/counter.ts';
import { REPORT_DATA_SIZE, TARGET_INFO_SIZE } from '../../interface/platform.ts';

export class ProvisioningError extends Error {
  override name = 'ProvisioningError';
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/** Host text shown to the user: printable ASCII only, cut (the host may say anything). */
function hostWords(text: unknown): string {
  const printable = String(text ?? '').replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 200 ? `${printable.slice(0, 200)}…` : printable;
}

/** Why there was no HTTP answer, in words; the code must be one the relay defines. */
function relayFailure(url: string, response: RelayedResponse): ProvisioningError {
  const known = Object.hasOwn(RELAY_FAILURES, String(response.failure));
  const what = known
    ? RELAY_FAILURES[response.failure as keyof typeof RELAY_FAILURES]
    : 'the host relay failed';
  const detail = response.detail === undefined ? '' : ` (host: ${hostWords(response.detail)})`;
  return new ProvisioningError(`cannot reach the key broker at ${new URL(url).origin}: ${what}${detail}`);
}

/**
 * The relay's reply to a request for `url` (bytes from the untrusted host): an HTTP answer, or a
 * `ProvisioningError` saying what failed.
 */
export function readRelayReply(
  url: string,
  data: Uint8Array,
): { status: number; headers: Record<string, string>; body: Uint8Array } {
  let response: RelayedResponse;
  try {
    response = JSON.parse(decodeUtf8(data)) as RelayedResponse;
  } catch {
    throw new ProvisioningError('the host relayed a malformed HTTP response');
  }
  if (typeof response !== 'object' || response === null)
    throw new ProvisioningError('the host relayed a malformed HTTP response');
  if (response.failure !== undefined) throw relayFailure(url, response);
  if (!Number.isInteger(response.status) || response.status < 200 || response.status > 599) {
    throw new ProvisioningError('the host relayed a malformed HTTP status');
  }
  const headers: Record<string, string> = {};
  if (typeof response.headers === 'object' && response.headers !== null)
    for (const [name, value] of Object.entries(response.headers))
      if (typeof value === 'string') headers[name] = value;
  return { status: response.status, headers, body: Buffer.from(String(response.body ?? ''), 'base64') };
}

/** One HTTP exchange over the host's relay: one blocking `net_fetch` host call. */
export function relayHttp(channel: HostChannel): SyncHttp {
  return ({ method, url, headers, body }) => {
    const request: RelayedRequest = { method, url, headers, body: base64(body) };
    const reply = hostCall(channel, Calls.netFetch, { request: encodeUtf8(JSON.stringify(request)) });
    return readRelayReply(url, reply);
  };
}

/** `fetch` over the host's relay. */
function relayedFetch(channel: HostChannel): Fetch {
  const http = relayHttp(channel);
  return async (url, init) => {
    const body =
      init.body === undefined || init.body === null
        ? new Uint8Array(0)
        : new Uint8Array(await new Response(init.body).arrayBuffer());
    const reply = http({
      method: init.method ?? 'GET',
      url,
      headers: Object.fromEntries(new Headers(init.headers)),
      body,
    });
    const status = reply.status;
    return new Response(status === 204 || status === 304 ? null : new Uint8Array(reply.body), {
      status,
      headers: reply.headers,
    });
  };
}

/** This enclave's counter identity, from its own REPORT (what the broker reads from its quotes). */
function ownIdentity(platform: Platform): string {
  const report = platform.ereport(new Uint8Array(TARGET_INFO_SIZE), new Uint8Array(REPORT_DATA_SIZE));
  const hex = (from: number, to: number): string => Buffer.from(report.subarray(from, to)).toString('hex');
  const isvprodid = report[256] | (report[257] << 8);
  return counterIdentity({ tee: 'sgx', mrenclave: hex(64, 96), mrsigner: hex(128, 160), isvprodid });
}

/**
 * The key broker's volume counters for this enclave, their replies checked against the broker key
 * pinned in the measured configuration.
 */
export function brokerCounters(kbs: KbsConfig, channel: HostChannel, platform: Platform): BrokerCounters {
  if (!kbs.brokerKey) throw new ProvisioningError('no broker key pinned: volume counters cannot be trusted');
  return new BrokerCounters({
    url: kbs.url,
    http: relayHttp(channel),
    evidence: (reportData) => platform.quote(reportData),
    identity: ownIdentity(platform),
    brokerKey: kbs.brokerKey,
  });
}

/** The secret at `resource`, released to this enclave only if its evidence meets the policy. */
export async function provisionFromKbs(
  kbs: KbsConfig & { resource: string },
  channel: HostChannel,
  platform: Platform,
): Promise<Uint8Array> {
  try {
    return await fetchKbsResource(
      {
        url: kbs.url,
        fetch: relayedFetch(channel),
        evidence: (reportData) => platform.quote(reportData),
        // Pinned: the broker must sign the release (the host relaying it could have made the JWE).
        ...(kbs.brokerKey && { brokerKey: kbs.brokerKey }),
      },
      kbs.resource,
    );
  } catch (error) {
    if (error instanceof KbsClientError) throw new ProvisioningError(`key broker refused: ${error.message}`);
    if (error instanceof ProvisioningError) throw error;
    throw new ProvisioningError(`key broker unreachable: ${(error as Error).message}`);
  }
}
