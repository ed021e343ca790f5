/**
 * Layout of the shared memory between the enclave and the host: one `SharedArrayBuffer` holding a
 * control block, the clock page and a ring of request slots, each with a bounce buffer.
 *
 * Write rights (who may store to which field; the other side only reads, and the enclave re-checks
 * everything it reads):
 *   control.submitted   enclave   count of requests submitted (the doorbell)
 *   control.hostParked  host      1 while the host thread sleeps on the doorbell
 *   clock page          host      wall-clock offset from the enclave's monotonic time, ns (word 0);
 *                                 which host fds 0-2 are terminals, bits 0-2 (word 1)
 *   slot.state          both      FREE -> SUBMITTED (enclave), SUBMITTED -> DONE (host), DONE -> FREE (enclave)
 *   slot request fields enclave   call id, sequence number, args, payload length, reply limit
 *   slot reply fields   host      echoed sequence number, errno, result, reply length, reply bytes
 *
 * The slots form lanes, each with its own sequence numbers, served in order within the lane: lane 0
 * (the first `SLOT_COUNT` slots, the whole ring of a single-threaded run) belongs to the enclave's
 * main worker; each enclave thread of a threaded program (docs/architecture.md, "Threads") gets a
 * lane of `THREAD_LANE_SLOTS` slot for the host calls it makes itself, so a thread waiting on stdin
 * never holds up the others' calls. Within a lane, a posted call (console output) that is still
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

/** Slots of each thread's lane: one, so a lane handed to a new thread starts at its slot 0. */
export const THREAD_LANE_SLOTS = 1;

/** Size of a ring with `threadLanes` thread lanes after lane 0. */
export function ringBytes(threadLanes = 0): number {
  return CONTROL_BYTES + CLOCK_BYTES + (SLOT_COUNT + threadLanes * THREAD_LANE_SLOTS) * SLOT_BYTES;
}

export const RING_BYTES = ringBytes(0);

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

/** A run of slots served in order, with its own sequence numbers. */
export interface Lane {
  /** Index of the lane's first slot in `RingView.slots`. */
  readonly first: number;
  /** Number of slots, a power of two. */
  readonly count: number;
}

/** Typed views of the whole ring. */
export interface RingView {
  readonly buffer: SharedArrayBuffer;
  readonly control: Int32Array;
  /** Written by the host at `clock_sync`: [0] wall-clock minus monotonic, ns; [1] terminal bits (`HostPage`). */
  readonly clock: BigInt64Array;
  readonly slots: readonly SlotView[];
  /** Lane 0 (the main worker's), then one lane per enclave thread. */
  readonly lanes: readonly Lane[];
}

export function createRingBuffer(threadLanes = 0): SharedArrayBuffer {
  return new SharedArrayBuffer(ringBytes(threadLanes));
}

export function viewRing(buffer: SharedArrayBuffer, threadLanes = 0): RingView {
  const bytes = ringBytes(threadLanes);
  if (buffer.byteLength !== bytes) throw new Error(`ring buffer must be ${bytes} bytes`);
  const slots: SlotView[] = [];
  const lanes: Lane[] = [{ first: 0, count: SLOT_COUNT }];
  for (let i = 0; i < threadLanes; i++) {
    lanes.push({ first: SLOT_COUNT + i * THREAD_LANE_SLOTS, count: THREAD_LANE_SLOTS });
  }
  for (let i = 0; i < SLOT_COUNT + threadLanes * THREAD_LANE_SLOTS; i++) {
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
    lanes,
  };
}

/** Words of the clock page (`RingView.clock`). */
export const HostPage = { clockOffset: 0, terminals: 1 } as const;

/** Open flags of `dir_open` (arg1), a bit set. */
export const OpenFlag = { create: 1, exclusive: 2, truncate: 4, write: 8 } as const;
