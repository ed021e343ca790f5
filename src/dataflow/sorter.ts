/**
 * Sorting a partition's pairs by key in bounded memory: records gather in memory until they exceed
 * the bound, then go out as a sorted run of sealed spill blocks; the runs are merged at the end.
 * Spill blocks are bound to (job, stage, partition, task attempt, run), so the host cannot feed
 * back another task's or another run's spill.
 */
import { decodeBatch, encodeBatch, roughSize } from './batch.ts';
import { IntegrityError } from './errors.ts';
import type { BlockStore } from './host-io.ts';
import { compareKeys, type Key } from './keys.ts';
import { openBlock, sealBlock, type Domain } from './seal.ts';

export type Pair = readonly [Key, unknown];

export interface SpillTarget {
  readonly store: BlockStore;
  readonly key: Uint8Array;
  readonly domain: (run: number) => Domain;
  readonly prefix: string;
  readonly memoryBytes: number;
  readonly blockBytes: number;
}

export class ExternalSorter {
  private buffer: Pair[] = [];
  private bytes = 0;
  private readonly runs: string[][] = [];
  private readonly compare: (a: Pair, b: Pair) => number;

  constructor(
    private readonly target: SpillTarget,
    descending = false,
  ) {
    this.compare = descending ? (a, b) => compareKeys(b[0], a[0]) : (a, b) => compareKeys(a[0], b[0]);
  }

  get spilledRuns(): number {
    return this.runs.length;
  }

  /** Adds a pair; returns a promise only when a run is being spilled (no await per pair). */
  add(pair: Pair): Promise<void> | undefined {
    this.buffer.push(pair);
    this.bytes += roughSize(pair);
    return this.bytes > this.target.memoryBytes ? this.spill() : undefined;
  }

  private async spill(): Promise<void> {
    const run = this.runs.length;
    const sorted = this.buffer.sort(this.compare);
    this.buffer = [];
    this.bytes = 0;
    const batches: Pair[][] = [[]];
    let size = 0;
    for (const pair of sorted) {
      if (size > this.target.blockBytes) {
        batches.push([]);
        size = 0;
      }
      batches[batches.length - 1].push(pair);
      size += roughSize(pair);
    }
    const names: string[] = [];
    for (const [i, batch] of batches.entries()) {
      const name = `${this.target.prefix}/run${run}/b${i}`;
      const blob = sealBlock(
        this.target.key,
        this.target.domain(run),
        i,
        i === batches.length - 1,
        encodeBatch(batch),
      );
      await this.target.store.put(name, blob);
      names.push(name);
    }
    this.runs.push(names);
  }

  private async *readRun(run: number): AsyncGenerator<Pair> {
    const names = this.runs[run];
    for (const [i, name] of names.entries()) {
      const { plaintext, last } = openBlock(
        this.target.key,
        this.target.domain(run),
        i,
        await this.target.store.get(name),
      );
      if (last !== (i === names.length - 1))
        throw new IntegrityError(`spill run ${run}: block ${i} out of place`);
      yield* decodeBatch(plaintext) as Pair[];
    }
  }

  /** All pairs added, in key order (stable: equal keys keep the order they were added in). */
  async *sorted(): AsyncGenerator<Pair> {
    if (this.runs.length === 0) {
      yield* this.buffer.sort(this.compare);
      this.buffer = [];
      return;
    }
    if (this.buffer.length > 0) await this.spill();
    const readers = this.runs.map((_, r) => this.readRun(r));
    const heads = await Promise.all(readers.map((r) => r.next()));
    for (;;) {
      let best = -1;
      for (let r = 0; r < heads.length; r++) {
        const head = heads[r];
        if (head.done) continue;
        if (best < 0 || this.compare(head.value, heads[best].value as Pair) < 0) best = r;
      }
      if (best < 0) return;
      yield heads[best].value as Pair;
      heads[best] = await readers[best].next();
    }
  }

  async cleanup(): Promise<void> {
    await this.target.store.remove(this.runs.flat());
  }
}
