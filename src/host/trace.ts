/**
 * Counts of host calls per call id, with bytes each way and the time the host's handler took, in
 * shared memory so the main thread can read them at any time. The handler time against a run's
 * length tells host work from the cost of handing calls across the ring.
 */
import { callsById } from '../interface/calls.ts';

/** One past the highest call id: every call in the table has its counters. */
const MAX_CALL_ID = Math.max(...callsById.keys()) + 1;
const FIELDS = 4;

export function createTraceCounters(): SharedArrayBuffer {
  return new SharedArrayBuffer(MAX_CALL_ID * FIELDS * 8);
}

export class TraceCounters {
  private readonly counts: Float64Array;

  constructor(buffer: SharedArrayBuffer) {
    this.counts = new Float64Array(buffer);
  }

  /** Counts a request as it arrives (before it is served: `exit` ends the server). */
  recordRequest(callId: number, bytesIn: number): void {
    if (callId < 0 || callId >= MAX_CALL_ID) return;
    this.counts[callId * FIELDS]++;
    this.counts[callId * FIELDS + 1] += bytesIn;
  }

  /** Counts a reply: its bytes and how long the handler took, ms. */
  recordReply(callId: number, bytesOut: number, handlerMs: number): void {
    if (callId < 0 || callId >= MAX_CALL_ID) return;
    this.counts[callId * FIELDS + 2] += bytesOut;
    this.counts[callId * FIELDS + 3] += handlerMs;
  }

  /** A table of every call made, grouped by class, with counts, bytes each way and handler time. */
  format(): string {
    const rows: string[][] = [];
    for (const cls of ['workload-independent', 'workload-dependent'] as const) {
      for (const spec of [...callsById.values()].filter((c) => c.class === cls)) {
        const base = spec.id * FIELDS;
        const count = this.counts[base];
        if (count === 0) continue;
        rows.push([
          cls,
          spec.name,
          String(count),
          String(this.counts[base + 1]),
          String(this.counts[base + 2]),
          this.counts[base + 3].toFixed(1),
        ]);
      }
    }
    const header = ['class', 'host call', 'count', 'bytes in', 'bytes out', 'host ms'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]): string =>
      cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
    const total = rows.reduce((sum, r) => sum + Number(r[2]), 0);
    const hostMs = rows.reduce((sum, r) => sum + Number(r[5]), 0);
    return [
      line(header),
      ...rows.map(line),
      `${total} host calls, ${hostMs.toFixed(1)} ms in the host's handlers`,
    ].join('\n');
  }
}
