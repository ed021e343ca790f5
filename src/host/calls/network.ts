/** The runtime's own network traffic, relayed by the launching process (its key broker requests). */
import type { Calls } from '../../interface/calls.ts';
import { NET_FETCH } from '../../interface/net-relay.ts';
import { relay } from './relay.ts';
import type { AreaHandlers } from './serve.ts';

export function networkHandlers(netMailbox: SharedArrayBuffer): AreaHandlers<typeof Calls, 'network'> {
  return {
    netFetch: ({ request }, out) => relay(netMailbox, NET_FETCH, request, out),
  };
}
