/**
 * Says when the host-call server has left the enclave waiting: the main thread looks at the ring
 * once a second, and a call still unanswered after `reportAfterMs` is reported once (on stderr by
 * the launcher), so a run stuck on its host is not silent. Calls that wait for the outside world
 * (stdin, a full stdout pipe, the network) are left alone: they may take as long as the user.
 */
import { Calls, callsById } from '../interface/calls.ts';
import { SLOT_COUNT, SlotField, SlotState, type RingView } from '../interface/ring.ts';

/** Calls whose answer may wait on the user or the network for any time. */
const MAY_WAIT_ON_OUTSIDE = new Set<number>([Calls.stdinRead.id, Calls.consoleWrite.id, Calls.netFetch.id]);

/** Watches `ring`; calls `report(call, seconds)` once per call left unanswered too long. Returns a stop function. */
export function watchRing(
  ring: RingView,
  report: (call: string, seconds: number) => void,
  reportAfterMs = 5_000,
): () => void {
  // The request the host is on: it serves in order, so the oldest one submitted.
  let waiting: { seq: number; since: number; reported: boolean } | undefined;
  const timer = setInterval(() => {
    let oldest: { seq: number; callId: number } | undefined;
    for (let i = 0; i < SLOT_COUNT; i++) {
      const h = ring.slots[i].header;
      if (Atomics.load(h, SlotField.state) !== SlotState.SUBMITTED) continue;
      const seq = h[SlotField.seq];
      if (oldest === undefined || seq - oldest.seq < 0) oldest = { seq, callId: h[SlotField.callId] };
    }
    const now = performance.now();
    if (oldest === undefined || MAY_WAIT_ON_OUTSIDE.has(oldest.callId)) {
      waiting = undefined;
      return;
    }
    if (waiting?.seq !== oldest.seq) waiting = { seq: oldest.seq, since: now, reported: false };
    else if (!waiting.reported && now - waiting.since >= reportAfterMs) {
      waiting.reported = true;
      const name = callsById.get(oldest.callId)?.name ?? `call ${oldest.callId}`;
      report(name, Math.round((now - waiting.since) / 1000));
    }
  }, 1_000);
  timer.unref();
  return () => clearInterval(timer);
}
