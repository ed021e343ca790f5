/**
 * The in-enclave channel between a program thread and the kernel (the enclave's main worker, which
 * owns the library OS): one `SharedArrayBuffer` per thread, created by the kernel and never shown
 * to the host. The thread writes a request and rings the kernel's doorbell; the kernel writes the
 * reply and wakes the thread. Both sides wait with `Atomics.wait`/`waitAsync`, inside the enclave.
 */

export const Op = { CALL: 1, SPAWN: 2 } as const;
/** NET_WAIT: the thread waits on the network signal, as the kernel told it (no call can come from it meanwhile). */
export const State = { IDLE: 0, REQUEST: 1, REPLY: 2, NET_WAIT: 3 } as const;
export const ReplyKind = { DONE: 0, BLOCK: 1 } as const;

/** WASI preview1 calls take at most 10 arguments. */
export const MAX_ARGS = 10;

/** Int32 fields. */
export const Field = {
  state: 0,
  op: 1,
  /** Index of the call in `WASI_CALLS`, then in `ThreadStart.moduleCalls` (the socket module's). */
  call: 2,
  argCount: 3,
  /** Bit i set: argument i is an i64 (a BigInt), else an i32. */
  bigArgs: 4,
  result: 5,
  replyKind: 6,
  blockKind: 7,
  /** For a wait on the network: the kernel's network signal when the wait was handed back. */
  netSignal: 8,
} as const;

const INT_FIELDS = 16;
/** BigInt64 slots after the Int32 fields: the arguments, then the block time and elapsed time. */
const BIG_FIELDS = MAX_ARGS + 2;
export const BLOCK_NS = MAX_ARGS;
export const ELAPSED_NS = MAX_ARGS + 1;

export const CHANNEL_BYTES = INT_FIELDS * 4 + BIG_FIELDS * 8;

export interface CallChannel {
  readonly ints: Int32Array;
  readonly bigs: BigInt64Array;
}

export function viewCallChannel(buffer: SharedArrayBuffer): CallChannel {
  if (buffer.byteLength !== CHANNEL_BYTES) throw new Error('bad thread channel');
  return {
    ints: new Int32Array(buffer, 0, INT_FIELDS),
    bigs: new BigInt64Array(buffer, INT_FIELDS * 4, BIG_FIELDS),
  };
}
