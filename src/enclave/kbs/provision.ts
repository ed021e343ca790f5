/**
 * Fetches the root image's key from the key broker named in the measured configuration: the
 * enclave attests with a quote binding the broker's nonce and a fresh key pair, and receives the
 * key encrypted to that key pair. The host relays the HTTP exchange and never sees the key.
 */
import { Calls } from '../../interface/calls.ts';
import { decodeUtf8, encodeUtf8 } from '../../interface/codec.ts';
import type { RelayedRequest, RelayedResponse } from '../../interface/net-relay.ts';
import { SLOT_DATA_BYTES } from '../../interface/ring.ts';
import type { KbsConfig } from '../../interface/run-config.ts';
import type { Platform } from '../attest/platform-client.ts';
import type { HostChannel } from '../ring/channel.ts';
import { fetchKbsResource, KbsClientError, type Fetch } from './client.ts';

export class ProvisioningError extends Error {
  override name = 'ProvisioningError';
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/** `fetch` over the host's relay: one `net_fetch` host call per request. */
function relayedFetch(channel: HostChannel): Fetch {
  return async (url, init) => {
    const body =
      init.body === undefined || init.body === null
        ? new Uint8Array(0)
        : new Uint8Array(await new Response(init.body).arrayBuffer());
    const request: RelayedRequest = {
      method: init.method ?? 'GET',
      url,
      headers: Object.fromEntries(new Headers(init.headers)),
      body: base64(body),
    };
    const reply = channel.call(Calls.netFetch, [], encodeUtf8(JSON.stringify(request)), SLOT_DATA_BYTES);
    let response: RelayedResponse;
    try {
      response = JSON.parse(decodeUtf8(reply.data)) as RelayedResponse;
    } catch {
      throw new ProvisioningError('the host relayed a malformed HTTP response');
    }
    if (!Number.isInteger(response.status) || response.status < 200 || response.status > 599) {
      throw new ProvisioningError('the host relayed a malformed HTTP status');
    }
    const status = response.status;
    const payload = Buffer.from(String(response.body ?? ''), 'base64');
    return new Response(status === 204 || status === 304 ? null : payload, {
      status,
      headers: response.headers ?? {},
    });
  };
}

/** The secret at `kbs.resource`, released to this enclave only if its evidence meets the policy. */
export async function provisionFromKbs(
  kbs: KbsConfig,
  channel: HostChannel,
  platform: Platform,
): Promise<Uint8Array> {
  try {
    return await fetchKbsResource(
      { url: kbs.url, fetch: relayedFetch(channel), evidence: (reportData) => platform.quote(reportData) },
      kbs.resource,
    );
  } catch (error) {
    if (error instanceof KbsClientError) throw new ProvisioningError(`key broker refused: ${error.message}`);
    if (error instanceof ProvisioningError) throw error;
    throw new ProvisioningError(`key broker unreachable: ${(error as Error).message}`);
  }
}
