/**
 * The receive counter filter (RFC 6479, as WireGuard uses it): a ring of 32-bit blocks remembers
 * which counters inside the window were seen; older counters and repeats are refused. Counters are
 * checked only after the packet authenticated, so a forger cannot move the window.
 */
const BLOCK_BITS = 32;
const RING_BLOCKS = 128; // 4096 bits of ring
/** Counters this far behind the newest one are still accepted once (out of order delivery). */
export const WINDOW_SIZE = (RING_BLOCKS - 1) * BLOCK_BITS;

export class ReplayWindow {
  readonly #ring = new Uint32Array(RING_BLOCKS);
  #last = 0;
  #any = false;

  /** Records `counter`; false when it is a repeat or too old (or not a safe integer). */
  accept(counter: number, limit: number): boolean {
    if (!Number.isSafeInteger(counter) || counter < 0 || counter >= limit) return false;
    const block = Math.floor(counter / BLOCK_BITS);
    if (!this.#any || counter > this.#last) {
      const current = Math.floor(this.#last / BLOCK_BITS);
      const diff = this.#any ? Math.min(block - current, RING_BLOCKS) : RING_BLOCKS;
      for (let i = 1; i <= diff; i++) this.#ring[(current + i) % RING_BLOCKS] = 0;
      this.#last = counter;
      this.#any = true;
    } else if (this.#last - counter > WINDOW_SIZE) {
      return false;
    }
    const index = block % RING_BLOCKS;
    const bit = 1 << (counter % BLOCK_BITS);
    const old = this.#ring[index]!;
    this.#ring[index] = old | bit;
    return (old & bit) === 0;
  }
}
