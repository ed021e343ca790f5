/**
 * The host's end of the host-call ring: one host thread takes requests in submission order within
 * each lane (lanes in turn: see ring.ts), hands each to a handler and publishes the reply. It spins
 * briefly when the ring is empty (a spinning thread answers in about a microsecond), as long as
 * spinning pays (interface/spin.ts) and the thread keeps its core (run-queue.ts), then parks on the
 * doorbell so an idle enclave costs no CPU.
 */
import { AdaptiveSpin, SPIN_WINDOWS } from '../interface/spin.ts';
import { RunQueueWatch } from './run-queue.ts';
import { ARG_COUNT, Control, SlotField, SlotState, type RingView, type SlotView } from '../interface/ring.ts';

/** One request as the handler sees it. `data` is the slot's bounce buffer (payload in, reply out). */
export interface Request {
  readonly callId: number;
  readonly seq: number;
  readonly args: readonly bigint[];
  readonly payload: Uint8Array;
  readonly replyLimit: number;
  /** The reply bytes go here, at offset 0. */
  readonly data: Uint8Array;
}

export interface Response {
  errno: number;
  result?: bigint;
  replyLength?: number;
}

export type Handler = (request: Request) => Response;

/** Published replies may be rewritten by a test's hook; the real host passes them through. */
export type ReplyWriter = (slot: SlotView, request: Request, response: Response) => void;

export function writeReply(slot: SlotView, request: Request, response: Response): void {
  const h = slot.header;
  h[SlotField.replySeq] = request.seq;
  h[SlotField.errno] = response.errno;
  h[SlotField.replyLength] = response.replyLength ?? 0;
  slot.result[0] = response.result ?? 0n;
}

export class RingServer {
  /** Per lane, the count of requests served: the next one is in slot `next & (count - 1)`. */
  private readonly next: number[];
  /** The lane served last: the search for the next request starts after it. */
  private lastLane = 0;
  private stopped = false;
  private readonly spin = new AdaptiveSpin(SPIN_WINDOWS.host);

  /** `served`: per lane, the requests another server already answered (`servedCounts`). */
  constructor(
    private readonly ring: RingView,
    private readonly handler: Handler,
    private readonly replyWriter: ReplyWriter = writeReply,
    served?: readonly number[],
    private readonly runQueue = new RunQueueWatch(),
  ) {
    this.next = ring.lanes.map((_, lane) => served?.[lane] ?? 0);
  }

  /** Per lane, the requests answered so far: where a server taking over this ring starts. */
  servedCounts(): number[] {
    return [...this.next];
  }

  /** Ends `serve()` after the request being handled. */
  stop(): void {
    this.stopped = true;
  }

  /** Rings the doorbell, so that a `serveWhile` waiting for a request sees `stop()`. */
  wake(): void {
    Atomics.notify(this.ring.control, Control.submitted);
  }

  /** Serves requests until `stop()` is called (typically by the handler of `exit`). */
  serve(): void {
    const args: bigint[] = new Array(ARG_COUNT).fill(0n);
    while (!this.stopped) this.answer(this.waitForRequest(), args);
  }

  /**
   * Serves from an event loop (the launcher's main thread, which must not block): never spins,
   * waits with `Atomics.waitAsync`, and returns at the first request `accept` refuses (leaving it
   * submitted, for the server that takes over) or once `stop()` was called. Resolves to whether
   * the ring was left with a refused request.
   */
  async serveWhile(accept: (callId: number, payloadLength: number) => boolean): Promise<boolean> {
    const args: bigint[] = new Array(ARG_COUNT).fill(0n);
    const control = this.ring.control;
    // Parked throughout: the enclave rings the doorbell for every request.
    Atomics.store(control, Control.hostParked, 1);
    while (!this.stopped) {
      const seen = Atomics.load(control, Control.submitted);
      const lane = this.readyLane();
      if (lane < 0) {
        const wait = Atomics.waitAsync(control, Control.submitted, seen);
        if (wait.async) await wait.value;
        continue;
      }
      const h = this.nextSlot(lane).header;
      if (!accept(h[SlotField.callId], h[SlotField.payloadLength])) {
        Atomics.store(control, Control.hostParked, 0);
        return true;
      }
      this.answer(lane, args);
    }
    return false;
  }

  private nextSlot(lane: number): SlotView {
    const { first, count } = this.ring.lanes[lane];
    return this.ring.slots[first + (this.next[lane] & (count - 1))];
  }

  /** Handles the next request of `lane` and publishes its reply. */
  private answer(lane: number, args: bigint[]): void {
    const slot = this.nextSlot(lane);
    const h = slot.header;
    for (let i = 0; i < ARG_COUNT; i++) args[i] = slot.args[i];
    const payloadLength = Math.max(0, Math.min(h[SlotField.payloadLength], slot.data.length));
    const request: Request = {
      callId: h[SlotField.callId],
      seq: h[SlotField.seq],
      args,
      payload: slot.data.subarray(0, payloadLength),
      replyLimit: Math.max(0, Math.min(h[SlotField.replyLimit], slot.data.length)),
      data: slot.data,
    };
    this.replyWriter(slot, request, this.handler(request));
    Atomics.store(h, SlotField.state, SlotState.DONE);
    if (Atomics.load(h, SlotField.enclaveWaiting) === 1) Atomics.notify(h, SlotField.state);
    this.next[lane]++;
  }

  /** The lane whose next request is submitted, starting after `lastLane` so no lane starves. */
  private readyLane(): number {
    const lanes = this.ring.lanes;
    for (let k = 1; k <= lanes.length; k++) {
      const lane = (this.lastLane + k) % lanes.length;
      const { first, count } = lanes[lane];
      const h = this.ring.slots[first + (this.next[lane] & (count - 1))].header;
      if (Atomics.load(h, SlotField.state) === SlotState.SUBMITTED) return (this.lastLane = lane);
    }
    return -1;
  }

  private waitForRequest(): number {
    const now = performance.now();
    // Losing its core, the thread parks at once: the enclave's next request wakes it through the
    // futex, and the enclave, having woken it, waits parked too.
    if (!this.runQueue.parkAtOnce(now)) {
      const deadline = now + this.spin.windowMs;
      do {
        for (let i = 0; i < 64; i++) {
          const lane = this.readyLane();
          if (lane >= 0) {
            this.spin.hit();
            return lane;
          }
        }
      } while (performance.now() < deadline);
      this.spin.miss();
    }
    const control = this.ring.control;
    for (;;) {
      const seen = Atomics.load(control, Control.submitted);
      Atomics.store(control, Control.hostParked, 1);
      const lane = this.readyLane();
      if (lane < 0) Atomics.wait(control, Control.submitted, seen, 1000);
      Atomics.store(control, Control.hostParked, 0);
      if (lane >= 0) return lane;
    }
  }
}
