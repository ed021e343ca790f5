/**
 * The enclave's end of the host-call ring. It submits requests into slots, waits for (or, for
 * posted calls, later reaps) the host's replies, and believes nothing in shared memory: each
 * reply field is read once, the sequence number must echo the request's, the errno must be on
 * the call's allow-list, the reply length within the limit the enclave set, and the reply bytes
 * are copied out before anyone looks at them.
 */
import { AdaptiveSpin, SPIN_WINDOWS } from '../../interface/spin.ts';
import { Errno, WasiError } from '../../interface/errno.ts';
import type { CallSpec } from '../../interface/calls.ts';
import {
  ARG_COUNT,
  Control,
  SLOT_COUNT,
  SLOT_DATA_BYTES,
  SlotField,
  SlotState,
  type Lane,
  type RingView,
  type SlotView,
} from '../../interface/ring.ts';

/** The host broke the protocol itself (not just one call): the enclave must stop. */
export class HostProtocolError extends Error {
  override name = 'HostProtocolError';
}

export interface Reply {
  result: bigint;
  /** A private copy of the reply bytes. */
  data: Uint8Array;
}

/**
 * Once the host has broken the protocol, how long a call may still wait for its reply. The enclave
 * makes one more call then, `exit` with the reason; a host that broke the ring may never answer
 * it, and the enclave must stop rather than wait forever. (An intact ring waits without limit:
 * reading stdin or writing to a full pipe can legitimately take as long as the user.)
 */
const BROKEN_RING_WAIT_MS = 2_000;
const EMPTY = new Uint8Array(0);

export interface BatchRequest {
  spec: CallSpec;
  args: readonly bigint[];
  payload?: Uint8Array;
  replyLimit?: number;
  /** Copy the reply straight into this buffer (of at least `replyLimit` bytes) rather than a new one. */
  into?: Uint8Array;
}

interface InFlight {
  spec: CallSpec;
  seq: number;
  replyLimit: number;
  /** The first argument, to tell which stream a failed posted call was for. */
  arg0: bigint;
  /** A call of a deferred batch: where its reply goes when the slot is reaped before `finish`. */
  deferred?: { batch: DeferredCalls; position: number; into?: Uint8Array };
}

/**
 * Calls submitted by `HostChannel.start`, answered by the host while the enclave does other work;
 * `HostChannel.finish` hands over their replies. A reply reaped early (its slot was needed by a
 * later call) is checked and copied out then, into its `into` buffer, and kept here until `finish`.
 */
export class DeferredCalls {
  /** Per call: the slot it was submitted in and its sequence number. */
  readonly slots: { index: number; seq: number }[] = [];
  /** Per call: the checked reply or the error it was reaped with, once reaped. */
  readonly reaped: (Reply | Error | undefined)[] = [];
}

export class HostChannel {
  private seq = 0;
  private readonly first: number;
  private readonly count: number;
  private readonly inFlight: (InFlight | undefined)[];
  /** Errors the host reported for posted calls (console output), counted, not thrown. */
  postedErrors = 0;
  /** The last error of posted calls, by call id and first argument. */
  private readonly postedFailures = new Map<string, number>();
  /** The host broke the protocol: calls from now on wait `BROKEN_RING_WAIT_MS` at most. */
  private broken = false;
  private readonly spin = new AdaptiveSpin(SPIN_WINDOWS.enclave);
  /**
   * The last submit had to wake the parked host: the wait for its reply parks at once, leaving
   * the core to the woken host rather than spinning on it (on an oversubscribed machine a spin
   * after a wake-up made the hand-off several times slower).
   */
  private wokeHost = false;
  /**
   * The slot whose request is being written, else -1. A stack overflow in the program's import
   * can cut a call off at any point; cut while its request is written, the request would never be
   * submitted, and the host, which serves requests in order, would wait for it and never serve a
   * later one. `recover` puts the ring back in order before the next call. (A call cut off while
   * it waits stays in flight, and is reaped like a posted one.)
   */
  private writing = -1;
  /** Slots whose caller waits while it serves nested work: later calls cannot reap them. */
  private readonly held = new Set<number>();
  /**
   * Runs before each call is submitted: the host-directory cache sends the writes it holds back
   * (`vfs/hostdir-cache.ts`), so they reach the host before anything the enclave does after them.
   */
  beforeCall: () => void = () => {};

  /** A channel over one lane of the ring (by default lane 0, the whole ring of a single-threaded run). */
  constructor(
    private readonly ring: RingView,
    lane: Lane = { first: 0, count: SLOT_COUNT },
  ) {
    this.first = lane.first;
    this.count = lane.count;
    this.inFlight = new Array(lane.count);
  }

  /** Makes a call and waits for its checked reply; throws `WasiError` for an error reply. */
  call(
    spec: CallSpec,
    args: readonly bigint[],
    payload: Uint8Array = EMPTY,
    replyLimit = 0,
    whileWaiting?: () => void,
  ): Reply {
    this.beforeCall();
    const index = this.submit(spec, args, payload, replyLimit);
    if (whileWaiting === undefined) return this.complete(index, true);
    // Calls made by `whileWaiting` take the next slots; the ring must not wrap onto this one.
    this.held.add(index);
    try {
      return this.complete(index, true, undefined, whileWaiting);
    } finally {
      this.held.delete(index);
    }
  }

  /**
   * Makes several calls at once: all are submitted (up to a ring's worth at a time) before the
   * first is awaited, so the host serves them back to back. Replies come back in order.
   */
  callMany(requests: readonly BatchRequest[]): Reply[] {
    this.beforeCall();
    const replies: Reply[] = [];
    for (let start = 0; start < requests.length; start += this.count) {
      const batch = requests.slice(start, start + this.count);
      const slots = batch.map((r) => this.submit(r.spec, r.args, r.payload ?? EMPTY, r.replyLimit ?? 0));
      for (const [i, index] of slots.entries()) replies.push(this.complete(index, true, batch[i].into));
    }
    return replies;
  }

  /**
   * Submits several calls at once and returns without waiting: the host serves them while the
   * enclave goes on. Their replies are checked as those of `callMany` (with `into` honoured) when
   * `finish` takes them, or earlier if their slots are needed first. A batch never finished costs
   * nothing but its slots, which later calls reap.
   */
  start(requests: readonly BatchRequest[]): DeferredCalls {
    this.beforeCall();
    const batch = new DeferredCalls();
    for (const [position, r] of requests.entries()) {
      const index = this.submit(r.spec, r.args, r.payload ?? EMPTY, r.replyLimit ?? 0);
      const pending = this.inFlight[index] as InFlight;
      pending.deferred = { batch, position, into: r.into };
      batch.slots.push({ index, seq: pending.seq });
      batch.reaped.push(undefined);
    }
    return batch;
  }

  /** Waits for the replies of a `start`ed batch, in order; throws the first call's error. */
  finish(batch: DeferredCalls): Reply[] {
    const replies: Reply[] = [];
    for (const [position, { index, seq }] of batch.slots.entries()) {
      const pending = this.inFlight[index];
      if (batch.reaped[position] === undefined && pending?.deferred?.batch === batch && pending.seq === seq) {
        this.reap(index);
      }
      const reply = batch.reaped[position];
      if (reply === undefined) throw new Error('a deferred call was neither answered nor reaped');
      if (reply instanceof Error) throw reply;
      replies.push(reply);
    }
    return replies;
  }

  /**
   * As `finish`, but each call's error is returned in its place rather than thrown, so that every
   * reply is taken and checked (a broken protocol still throws).
   */
  finishEach(batch: DeferredCalls): (Reply | WasiError)[] {
    return batch.slots.map(({ index, seq }, position) => {
      const pending = this.inFlight[index];
      if (batch.reaped[position] === undefined && pending?.deferred?.batch === batch && pending.seq === seq) {
        this.reap(index);
      }
      const reply = batch.reaped[position];
      if (reply === undefined) throw new Error('a deferred call was neither answered nor reaped');
      if (reply instanceof Error && !(reply instanceof WasiError)) throw reply;
      return reply;
    });
  }

  /** Submits a call without waiting; its reply is checked when the slot is next needed. */
  post(spec: CallSpec, args: readonly bigint[], payload: Uint8Array = EMPTY): void {
    this.beforeCall();
    this.submit(spec, args, payload, 0);
  }

  /** The errno a posted call of `spec` with first argument `arg0` last failed with, or 0. */
  postedError(spec: CallSpec, arg0: bigint): number {
    return this.postedFailures.get(`${spec.id}:${arg0}`) ?? 0;
  }

  /** Waits until every posted call has been answered. */
  drain(): void {
    this.recover();
    for (let i = 0; i < this.count; i++) if (this.inFlight[i]) this.reap(i);
  }

  /**
   * Takes the reply in slot `index`: a deferred call's is checked, copied out and kept for its
   * batch (a call error is kept too, for `finish` to throw); a posted call's is checked and counted.
   */
  private reap(index: number): void {
    const deferred = (this.inFlight[index] as InFlight).deferred;
    if (!deferred) {
      this.complete(index, false);
      return;
    }
    try {
      deferred.batch.reaped[deferred.position] = this.complete(index, true, deferred.into);
    } catch (error) {
      if (!(error instanceof WasiError)) throw error;
      deferred.batch.reaped[deferred.position] = error;
    }
  }

  /** Puts the ring back in order after a call was cut off while its request was written. */
  private recover(): void {
    const index = this.writing;
    if (index < 0) return;
    this.writing = -1;
    const pending = this.inFlight[index];
    const state = Atomics.load(this.ring.slots[this.first + index].header, SlotField.state);
    // Never submitted: the slot and its sequence number go to the next call. Submitted: it is
    // reaped like any other, and the next call takes the next number.
    if (state === SlotState.FREE || !pending) this.inFlight[index] = undefined;
    else this.seq = (pending.seq + 1) | 0;
  }

  private submit(spec: CallSpec, args: readonly bigint[], payload: Uint8Array, replyLimit: number): number {
    if (args.length > ARG_COUNT) throw new RangeError(`${spec.name}: too many arguments`);
    if (payload.length > SLOT_DATA_BYTES || replyLimit > SLOT_DATA_BYTES) {
      throw new RangeError(`${spec.name}: transfer larger than a slot`);
    }
    this.recover();
    const seq = this.seq;
    const index = seq & (this.count - 1);
    if (this.held.has(index)) {
      throw new RangeError(`${spec.name}: the ring is full of calls nested inside a host call`);
    }
    if (this.inFlight[index]) this.reap(index);
    this.writing = index;
    const slot = this.ring.slots[this.first + index];
    const h = slot.header;
    h[SlotField.callId] = spec.id;
    h[SlotField.seq] = seq;
    h[SlotField.payloadLength] = payload.length;
    h[SlotField.replyLimit] = replyLimit;
    h[SlotField.enclaveWaiting] = 0;
    for (let i = 0; i < ARG_COUNT; i++) slot.args[i] = args[i] ?? 0n;
    if (payload.length > 0) slot.data.set(payload);
    this.inFlight[index] = { spec, seq, replyLimit, arg0: args[0] ?? 0n };
    Atomics.store(h, SlotField.state, SlotState.SUBMITTED);
    this.seq = (seq + 1) | 0;
    this.writing = -1;
    Atomics.add(this.ring.control, Control.submitted, 1);
    this.wokeHost = Atomics.load(this.ring.control, Control.hostParked) === 1;
    if (this.wokeHost) Atomics.notify(this.ring.control, Control.submitted);
    return index;
  }

  private complete(index: number, wanted: boolean, into?: Uint8Array, whileWaiting?: () => void): Reply {
    try {
      return this.checkedReply(index, wanted, into, whileWaiting);
    } catch (error) {
      if (error instanceof HostProtocolError) this.broken = true;
      throw error;
    }
  }

  private checkedReply(index: number, wanted: boolean, into?: Uint8Array, whileWaiting?: () => void): Reply {
    const pending = this.inFlight[index];
    if (!pending) throw new Error('no request in flight in this slot');
    const slot = this.ring.slots[this.first + index];
    let answered: boolean;
    try {
      answered = waitForReply(
        slot,
        this.spin,
        this.wokeHost,
        this.broken ? BROKEN_RING_WAIT_MS : Infinity,
        whileWaiting,
      );
    } catch (error) {
      // A call cut off while it waits (a stack overflow) stays in flight: its reply is reaped
      // before the slot is used again. A host that broke the protocol is not waited on again.
      if (error instanceof HostProtocolError) this.inFlight[index] = undefined;
      throw error;
    }
    this.inFlight[index] = undefined;
    if (!answered) {
      throw new HostProtocolError(
        `host did not answer ${pending.spec.name} within ${BROKEN_RING_WAIT_MS / 1000} s after breaking the protocol`,
      );
    }
    const h = slot.header;
    const replySeq = h[SlotField.replySeq];
    const errno = h[SlotField.errno];
    const replyLength = h[SlotField.replyLength];
    const result = slot.result[0];
    if (replySeq !== pending.seq) {
      throw new HostProtocolError(
        `host answered request ${replySeq} in the slot of request ${pending.seq} (${pending.spec.name})`,
      );
    }
    const checked = checkReply(pending, errno, replyLength);
    let data: Uint8Array = EMPTY;
    if (checked === 0 && replyLength > 0) {
      // The one copy out of shared memory, made before anyone looks at the bytes.
      if (into && into.length >= replyLength) {
        into.set(slot.data.subarray(0, replyLength));
        data = into.subarray(0, replyLength);
      } else data = slot.data.slice(0, replyLength);
    }
    Atomics.store(h, SlotField.state, SlotState.FREE);
    if (checked !== 0) {
      if (!wanted) {
        this.postedErrors++;
        this.postedFailures.set(`${pending.spec.id}:${pending.arg0}`, checked);
        return { result: 0n, data: EMPTY };
      }
      throw new WasiError(checked, `${pending.spec.name}: host returned ${checked}`);
    }
    return { result, data };
  }
}

/** The errno the enclave will act on: the host's if allowed, EIO for anything it may not say. */
function checkReply(pending: InFlight, errno: number, replyLength: number): number {
  if (errno !== Errno.SUCCESS) return pending.spec.errnos.includes(errno) ? errno : Errno.IO;
  if (!Number.isInteger(replyLength) || replyLength < 0 || replyLength > pending.replyLimit) return Errno.IO;
  return Errno.SUCCESS;
}

/** Spins for `spin`'s window, then parks until the slot's reply is published; false when `limitMs` passed first. */
function waitForReply(
  slot: SlotView,
  spin: AdaptiveSpin,
  parkAtOnce: boolean,
  limitMs: number,
  whileWaiting?: () => void,
): boolean {
  const h = slot.header;
  // A reply already there (a fast host call) costs no clock read.
  if (Atomics.load(h, SlotField.state) === SlotState.DONE) {
    spin.hit();
    return true;
  }
  if (!parkAtOnce) {
    const spinUntil = performance.now() + spin.windowMs;
    do {
      for (let i = 0; i < 64; i++) {
        if (Atomics.load(h, SlotField.state) === SlotState.DONE) {
          spin.hit();
          return true;
        }
      }
      whileWaiting?.();
    } while (performance.now() < spinUntil);
    spin.miss();
  }
  Atomics.store(h, SlotField.enclaveWaiting, 1);
  const giveUpAt = performance.now() + limitMs;
  while (Atomics.load(h, SlotField.state) !== SlotState.DONE) {
    const left = giveUpAt - performance.now();
    if (left <= 0) return false;
    // The host wakes this wait when it leaves nested work for `whileWaiting`.
    Atomics.wait(h, SlotField.state, SlotState.SUBMITTED, Math.min(1000, left));
    whileWaiting?.();
    const state = Atomics.load(h, SlotField.state);
    if (state !== SlotState.SUBMITTED && state !== SlotState.DONE) {
      throw new HostProtocolError(`host wrote slot state ${state}`);
    }
  }
  return true;
}
