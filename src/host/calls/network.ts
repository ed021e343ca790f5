/**
 * The runtime's own network traffic, relayed by the launching process: its key broker requests,
 * and the WireGuard datagrams of `--net` (`datagrams.ts`).
 */
import type { Calls } from '../../interface/calls.ts';
import { NET_FETCH } from '../../interface/net-relay.ts';
import { datagramHandlers } from './datagrams.ts';
import { relay } from './relay.ts';
import type { AreaHandlers, HostHandlers } from './serve.ts';

/** The key broker relay alone: what a JavaScript enclave's host serves too. */
export function keyBrokerRelayHandlers(
  netMailbox: SharedArrayBuffer,
): HostHandlers<Pick<typeof Calls, 'netFetch'>> {
  return {
    netFetch: ({ request }, out) => relay(netMailbox, NET_FETCH, request, out),
  };
}

export function networkHandlers(
  netMailbox: SharedArrayBuffer,
  datagramMailbox: SharedArrayBuffer | undefined,
): AreaHandlers<typeof Calls, 'network'> {
  return { ...keyBrokerRelayHandlers(netMailbox), ...datagramHandlers(datagramMailbox) };
}
