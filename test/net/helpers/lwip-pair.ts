import { readFileSync } from 'node:fs';
import { LwipStack, compileLwip } from '../../../src/enclave/net/lwip.ts';
import type { LwipModule, NetEvent } from '../../../src/enclave/net/lwip.ts';

/** lwip.wasm compiled once for all tests of a file. */
export const lwipModule: LwipModule = compileLwip(
  readFileSync(new URL('../../../src/enclave/net/lwip.wasm', import.meta.url)),
);

/** A manual monotonic clock in milliseconds. */
export class TestClock {
  ms = 1000;
  now = (): number => this.ms;
}

/** One stack with its outbound packets queued for the test to carry. */
export interface Node {
  stack: LwipStack;
  outbox: Uint8Array[];
  events: NetEvent[];
}

export function makeNode(clock: TestClock, address: string, mtu = 1420): Node {
  const outbox: Uint8Array[] = [];
  const stack = new LwipStack({ wasm: lwipModule, nowMs: clock.now, output: (p) => outbox.push(p.slice()) });
  stack.up({ address, prefix: 24, mtu });
  return { stack, outbox, events: [] };
}

/**
 * Two stacks wired back to back: `pump` carries queued packets both ways until both are quiet (or
 * the bound is hit), collecting each side's events. `filter` may drop or rewrite a packet in transit.
 */
export class Wire {
  readonly a: Node;
  readonly b: Node;
  readonly clock = new TestClock();
  filter: (packet: Uint8Array, from: 'a' | 'b') => Uint8Array | undefined = (p) => p;
  /** Hand each side's queued packets over as one batch (`inputBatch`: ACKs thinned), as NetStack does. */
  batched = false;

  constructor(mtu = 1420) {
    this.a = makeNode(this.clock, '10.213.0.1', mtu);
    this.b = makeNode(this.clock, '10.213.0.2', mtu);
  }

  /** Returns the number of packets carried. Throws when still busy after `maxRounds`. */
  pump(maxRounds = 10_000): number {
    let carried = 0;
    for (let round = 0; round < maxRounds; round++) {
      this.#collect();
      if (this.a.outbox.length === 0 && this.b.outbox.length === 0) return carried;
      carried += this.#carry(this.a, this.b, 'a') + this.#carry(this.b, this.a, 'b');
    }
    throw new Error(`wire still busy after ${maxRounds} rounds`);
  }

  /** Advances the clock by `ms` in timer-sized steps, ticking both stacks and pumping. */
  advance(ms: number): void {
    const end = this.clock.ms + ms;
    while (this.clock.ms < end) {
      this.clock.ms = Math.min(end, this.clock.ms + 100);
      this.a.stack.tick();
      this.b.stack.tick();
      this.pump();
    }
  }

  #carry(from: Node, to: Node, name: 'a' | 'b'): number {
    const packets = from.outbox.splice(0);
    const passed: Uint8Array[] = [];
    for (const p of packets) {
      const q = this.filter(p, name);
      if (q) passed.push(q);
    }
    if (this.batched) to.stack.inputBatch(passed);
    else for (const q of passed) to.stack.input(q);
    return packets.length;
  }

  #collect(): void {
    this.a.events.push(...this.a.stack.takeEvents());
    this.b.events.push(...this.b.stack.takeEvents());
  }
}
