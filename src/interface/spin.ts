/**
 * How long a side of the ring spins before it parks, adapted to how spinning has been paying.
 *
 * A thread spinning on shared memory sees its partner's store in about a microsecond, where a
 * futex wake-up costs tens; but the spin pays only while the partner is running on another core.
 * When the machine is oversubscribed (more runnable threads than cores), the partner is often
 * descheduled: the spinner then burns the very core the partner waits for, and the scheduler
 * counts both as CPU hogs. Parked threads are woken with priority, so under load an immediate
 * hand-off through the futex is the fast path (see bench/README.md, contention mode).
 *
 * So each waiter keeps a window: a wait answered while spinning doubles it (up to `maxMs`), a wait
 * that had to park halves it (down to `minMs`, a short probe that finds the partner running
 * again once the load goes). Calls that are slow on the host (an fsync) park now and then without
 * moving the window much: it follows the ratio of answered to parked waits, not single ones.
 *
 * Tried and measured worse (speedtest1 no-lock on a `--dir` mount, A/B at load 17 on 2 cores): a
 * fixed host window that never shrinks (1.11× the wall time, 1.20× the CPU) and a host window
 * that shrinks only when the enclave had to park for a reply (1.49×, 1.35×). Not measured quiet.
 */
/**
 * The windows, ms, of both sides of the host-call ring (docs/host-interface.md quotes them).
 * The enclave waits for a reply: the host answers a spinning enclave in about a microsecond plus
 * its own file-system work (a few microseconds), and a park and wake-up costs about 20 µs more on
 * an idle machine. The host waits for the next request: programs make host calls in bursts
 * separated by computation, so it stays awake through short gaps; an idle enclave still costs
 * no CPU once the window has passed.
 */
export const SPIN_WINDOWS = {
  // The enclave's probe outlasts a quick host call (a stat: a few µs), so a run of slow calls (fsync)
  // that shrank the window does not keep it shrunk on an idle machine.
  enclave: { minMs: 0.01, maxMs: 0.2 },
  // The host's probe outlasts the enclave's work between two block reads (a random 4 KiB read:
  // verify, decrypt and the file system, 40-80 µs). A shorter probe, once shrunk, never grew back:
  // a gap longer than the window is always a miss, so every read paid a futex wake-up on each side
  // (bench/disk.ts, random reads: 120 µs a read with a 5 µs probe, 40 µs with this one).
  host: { minMs: 0.2, maxMs: 1 },
} as const;

export class AdaptiveSpin {
  private window: number;

  private readonly minMs: number;
  private readonly maxMs: number;

  constructor(window: { readonly minMs: number; readonly maxMs: number }) {
    this.minMs = window.minMs;
    this.maxMs = window.maxMs;
    this.window = window.maxMs;
  }

  /** The current window, ms. */
  get windowMs(): number {
    return this.window;
  }

  /** The awaited store came while spinning. */
  hit(): void {
    this.window = Math.min(this.maxMs, this.window * 2);
  }

  /** The window ran out: the waiter parks. */
  miss(): void {
    this.window = Math.max(this.minMs, this.window / 2);
  }
}
