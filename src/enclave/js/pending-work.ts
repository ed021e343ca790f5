/**
 * Tells the host whether the app has work of its own pending: timers and immediates that keep
 * the enclave's event loop alive (a callback the app will run with no call from the host, which
 * may call out to the host or settle a promise the host awaits). While it has, the host serves
 * the enclave's host calls when it is idle and keeps its process alive; once it has none, an
 * idle host makes no call and lets its process exit, as the unpartitioned program would.
 *
 * The call channel's `pendingWork` word carries it (PendingWork in interface/js-enclave.ts). Each
 * reply carries the count at the time of the reply; microtasks that run after the reply may still
 * start or clear timers, so the value is `UNCONFIRMED` until a check on the next turn of the
 * enclave's loop confirms or corrects it. A correction that changes whether there is work rings
 * the host (the word's waiters and the ring's doorbell); while there is work, the check repeats.
 */
import { ChannelField, PendingWork } from '../../interface/js-enclave.ts';
import { Control, type RingView } from '../../interface/ring.ts';

/** How often the enclave looks again while the app has timers pending (for the host to learn when they end). */
const RECHECK_MS = 20;

/** Only the app's timers and immediates: the runtime's own are unreferenced, and the app has no other handles. */
function appHasPendingWork(process: NodeJS.Process): boolean {
  for (const resource of process.getActiveResourcesInfo()) {
    if (resource === 'Timeout' || resource === 'Immediate') return true;
  }
  return false;
}

export class PendingWorkSignal {
  private checkScheduled = false;

  constructor(
    private readonly header: Int32Array,
    private readonly ring: RingView,
    private readonly process: NodeJS.Process,
  ) {}

  /** Stores the value a reply carries (before the reply is published) and schedules its confirmation. */
  beforeReply(): void {
    const busy = appHasPendingWork(this.process);
    Atomics.store(this.header, ChannelField.pendingWork, busy ? PendingWork.BUSY : PendingWork.UNCONFIRMED);
    this.schedule(false);
  }

  private schedule(later: boolean): void {
    if (this.checkScheduled) return;
    this.checkScheduled = true;
    const check = (): void => {
      this.checkScheduled = false;
      this.check();
    };
    // Unreferenced: the check itself is no work of the app's and keeps nothing alive.
    if (later) setTimeout(check, RECHECK_MS).unref();
    else setImmediate(check).unref();
  }

  private check(): void {
    const busy = appHasPendingWork(this.process);
    const before = Atomics.exchange(
      this.header,
      ChannelField.pendingWork,
      busy ? PendingWork.BUSY : PendingWork.IDLE,
    );
    if ((before === PendingWork.BUSY) !== busy) {
      Atomics.notify(this.header, ChannelField.pendingWork);
      Atomics.add(this.ring.control, Control.submitted, 1);
      if (Atomics.load(this.ring.control, Control.hostParked) !== 0)
        Atomics.notify(this.ring.control, Control.submitted);
    }
    if (busy) this.schedule(true);
  }
}
