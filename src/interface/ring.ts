/**
 * Layout of the shared memory between the enclave and the host: one `SharedArrayBuffer` holding a
 * control block, the clock page and a ring of request slots, each with a bounce buffer.
 *
 * Write rights (who may store to which field; the other side only reads, and the enclave re-checks
 * everything it reads):
 *   control.submitted   enclave   count of requests submitted (the doorbell)
 *   control.hostParked  host      1 while the host thread sleeps on the doorbell
 *   clock page          host      wall-clock offset from the enclave's monotonic time, ns
 *   slot.state          both      FREE -> SUBMITTED (enclave), SUBMITTED -> DONE (host), DONE -> FREE (enclave)
 *   slot request fields enclave   call id, sequence number, args, payload length, reply limit
 *   slot reply fields   host      echoed sequence number, errno, result, reply length, reply bytes
 *
 * Requests are served strictly in submission order, so a posted call (console output) that is still
 * in flight is always answered before a later call that the enclave waits for.
 */

/** Number of slots; a power of two. */
export const SLOT_COUNT = 16;
/** Bytes of payload a slot can carry each way. Larger transfers are split by the enclave. */
export const SLOT_DATA_BYTES = 64 * 1024;

const CONTROL_BYTES = 64;
const CLOCK_BYTES = 64;
const SLOT_HEADER_BYTES = 128;
const SLOT_BYTES = SLOT_HEADER_BYTES + SLOT_DATA_BYTES;

export const RING_BYTES = CONTROL_BYTES + CLOCK_BYTES + SLOT_COUNT * SLOT_BYTES;

/** Int32 indexes into the control block. */
export const Control = { submitted: 0, hostParked: 1 } as const;

/** Slot states. */
export const SlotState = { FREE: 0, SUBMITTED: 1, DONE: 2 } as const;

/** Int32 field indexes within a slot header. */
export const SlotField = {
  state: 0,
  callId: 1,
  seq: 2,
  payloadLength: 3,
  replyLimit: 4,
  enclaveWaiting: 5,
  replySeq: 8,
  errno: 9,
  replyLength: 10,
} as const;

/** Number of 64-bit arguments a request carries. */
export const ARG_COUNT = 6;
const ARGS_OFFSET = 64;
const RESULT_OFFSET = ARGS_OFFSET + ARG_COUNT * 8;

/** Typed views of one slot; both sides build these over the same buffer. */
export interface SlotView {
  readonly header: Int32Array;
  readonly args: BigInt64Array;
  /** result[0] is the call's scalar result. */
  readonly result: BigInt64Array;
  readonly data: Uint8Array;
}

/** Typed views of the whole ring. */
export interface RingView {
  readonly buffer: SharedArrayBuffer;
  readonly control: Int32Array;
  /** clock[0]: wall-clock minus monotonic, ns, written by the host. */
  readonly clock: BigInt64Array;
  readonly slots: readonly SlotView[];
}

export function createRingBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(RING_BYTES);
}

export function viewRing(buffer: SharedArrayBuffer): RingView {
  if (buffer.byteLength !== RING_BYTES) throw new Error(`ring buffer must be ${RING_BYTES} bytes`);
  const slots: SlotView[] = [];
  for (let i = 0; i < SLOT_COUNT; i++) {
    const base = CONTROL_BYTES + CLOCK_BYTES + i * SLOT_BYTES;
    slots.push({
      header: new Int32Array(buffer, base, SLOT_HEADER_BYTES / 4),
      args: new BigInt64Array(buffer, base + ARGS_OFFSET, ARG_COUNT),
      result: new BigInt64Array(buffer, base + RESULT_OFFSET, 1),
      data: new Uint8Array(buffer, base + SLOT_HEADER_BYTES, SLOT_DATA_BYTES),
    });
  }
  return {
    buffer,
    control: new Int32Array(buffer, 0, CONTROL_BYTES / 4),
    clock: new BigInt64Array(buffer, CONTROL_BYTES, CLOCK_BYTES / 8),
    slots,
  };
}

/** Open flags of `dir_open` (arg1), a bit set. */
export const OpenFlag = { create: 1, exclusive: 2, truncate: 4, write: 8 } as const;

/** How long each side spins on shared memory before it parks in `Atomics.wait`. */
export const SPIN_NS = 50_000;
