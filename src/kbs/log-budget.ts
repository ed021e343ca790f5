/**
 * How many refusal lines one client may put in the KBS log: anyone can make the server refuse, and
 * a line per refused request would let a flood fill the operator's disk. Each client (address, or
 * IPv6 /64) gets `lines` per `windowMs`; what is held back beyond that is counted and reported in
 * one line when its window has passed. The audit table still gets a row for every refusal.
 */

/** Clients tracked at once; beyond, new ones share one budget. */
const MAX_CLIENTS = 10_000;
const OTHERS = 'other clients';

interface Window {
  start: number;
  lines: number;
  held: number;
}

export class LogBudget {
  private readonly windows = new Map<string, Window>();
  private nextSweep = 0;

  constructor(
    /** Told, once a client's window has passed, how many of its lines were held back. */
    private readonly report: (client: string, held: number) => void,
    private readonly lines = 20,
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a line about `client` may be written now. */
  take(client: string): boolean {
    const now = this.now();
    if (now >= this.nextSweep) this.sweep(now);
    const key = this.windows.has(client) || this.windows.size < MAX_CLIENTS ? client : OTHERS;
    let window = this.windows.get(key);
    if (window === undefined) {
      window = { start: now, lines: 0, held: 0 };
      this.windows.set(key, window);
    }
    if (window.lines < this.lines) {
      window.lines++;
      return true;
    }
    window.held++;
    return false;
  }

  /** Ends the windows that have passed, reporting what each held back (at most once a second). */
  private sweep(now: number): void {
    this.nextSweep = now + Math.min(1_000, this.windowMs);
    for (const [client, window] of this.windows) {
      if (now - window.start < this.windowMs) continue;
      this.windows.delete(client);
      if (window.held > 0) this.report(client, window.held);
    }
  }
}
