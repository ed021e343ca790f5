/** Quotes: the host relays the enclave's requests to the quoting enclave, as aesmd does for SGX. */
import type { Calls } from '../../interface/calls.ts';
import { QeOp } from '../../interface/platform.ts';
import { relay } from './relay.ts';
import { failure, type AreaHandlers } from './serve.ts';

export function attestationHandlers(qeMailbox: SharedArrayBuffer): AreaHandlers<typeof Calls, 'attestation'> {
  return {
    quote: ({ op, report }, out) => {
      if (op === QeOp.TARGET_INFO) return relay(qeMailbox, op, new Uint8Array(0), out);
      if (op === QeOp.QUOTE) return relay(qeMailbox, op, report, out);
      throw failure('EINVAL', `no quoting enclave operation ${op}`);
    },
  };
}
