/**
 * Per-source token buckets for handshake messages under load (as wireguard-go's rate limiter): once
 * mac2 has proved a sender owns its address, that address still gets at most `perSecond` handshakes
 * a second after a burst of `burst`. The table is bounded; when full, the stalest entries go first.
 */
export class SourceRateLimiter {
  readonly #buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    private readonly perSecond = 20,
    private readonly burst = 5,
    private readonly maxSources = 4096,
  ) {}

  /** Takes one token for `source`; false when its bucket is empty. */
  allow(source: string, nowMs: number): boolean {
    let b = this.#buckets.get(source);
    if (b) {
      b.tokens = Math.min(this.burst, b.tokens + ((nowMs - b.atMs) * this.perSecond) / 1000);
      b.atMs = nowMs;
      this.#buckets.delete(source); // re-inserted below: Map order is then least recently seen first
    } else {
      if (this.#buckets.size >= this.maxSources) this.#buckets.delete(this.#buckets.keys().next().value!);
      b = { tokens: this.burst, atMs: nowMs };
    }
    this.#buckets.set(source, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
