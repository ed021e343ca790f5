/** Hands a request to a service of the launching process (the quoting enclave, the network relay). */
import { mailboxCall, type MailboxReply } from '../../interface/mailbox.ts';
import { failure } from './serve.ts';

/** The service's reply, checked against `out` (the reply limit): too long is EIO, a refusal EINVAL. */
export function relayed(reply: MailboxReply, out: Uint8Array): Uint8Array {
  if (reply.status !== 0) throw failure('EINVAL', 'the service refused the request');
  if (reply.data.length > out.length) throw failure('EIO', 'the reply is larger than the enclave takes');
  return reply.data;
}

export function relay(
  mailbox: SharedArrayBuffer,
  op: number,
  payload: Uint8Array,
  out: Uint8Array,
): Uint8Array {
  return relayed(mailboxCall(mailbox, op, payload.slice()), out);
}
