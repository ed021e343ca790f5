/**
 * Whether the host-call thread is losing its core: the time it spent runnable but waiting for a CPU
 * (`/proc/thread-self/schedstat`, second field, ns), sampled while it spins. On a machine with more
 * runnable threads than cores a spinner only gets its turn in time slices, and the enclave waits
 * that long for each reply; a parked thread woken through the futex is favoured by the scheduler.
 * So the ring server spins while this says the core is its own, and parks at once for a while when
 * it is not.
 */
import { readFileSync } from 'node:fs';

/** Reads the calling thread's run-queue wait so far, ns; undefined where the kernel does not say. */
export type RunQueueClock = () => number | undefined;

export const threadRunQueueWait: RunQueueClock = () => {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[1]);
  } catch {
    return undefined;
  }
};

/** How often the spinning thread samples its run-queue wait, ms (a sample costs a few µs). */
export const SAMPLE_MS = 10;
/**
 * Waiting for a core more than this share of a sample's time means the machine is oversubscribed:
 * an idle machine gives about 0, a spinner among 8 busy threads on 2 cores 0.2-14 % (10 ms samples).
 */
export const CONTENDED_SHARE = 0.01;
/** How long the thread parks at once after a contended sample, ms, before it spins and samples again. */
export const PARK_MS = 200;

export class RunQueueWatch {
  private sampledAt = -Infinity;
  private waitedNs: number | undefined;
  private parkUntil = -Infinity;

  constructor(private readonly clock: RunQueueClock = threadRunQueueWait) {}

  /**
   * Whether a wait starting at `now` (ms, `performance.now()`) should park at once. Called by the
   * spinning side before each wait; samples the run-queue wait every `SAMPLE_MS` while it spins.
   */
  parkAtOnce(now: number): boolean {
    if (now < this.parkUntil) return true;
    if (now - this.sampledAt < SAMPLE_MS) return false;
    const waited = this.clock();
    const previous = this.waitedNs;
    const interval = now - this.sampledAt;
    this.sampledAt = now;
    this.waitedNs = waited;
    // A sample that spans a park (or the first one) only starts the next interval.
    if (waited === undefined || previous === undefined || interval > 2 * SAMPLE_MS) return false;
    if ((waited - previous) / 1e6 <= CONTENDED_SHARE * interval) return false;
    this.parkUntil = now + PARK_MS;
    this.waitedNs = undefined;
    return true;
  }
}
