/**
 * Resilient distributed datasets: a lazy lineage graph. Transformations only build nodes; an action
 * hands the final node to the context, which cuts the graph into stages at shuffles and runs them.
 * Every node gets an id in creation order, so an executor that replays the job file builds the same
 * graph and finds the closures of a task by (stage, RDD id): no code crosses as text.
 */
import type { Key } from './keys.ts';

/** What `reduceByKey` accepts for `as const` literals: 1 combines as number, 'a' as string. */
export type Widen<V> = V extends number
  ? number
  : V extends string
    ? string
    : V extends boolean
      ? boolean
      : V;

/** Items move through a task in batches (arrays): one await per batch, not per item. */
export const BATCH = 4096;

export type BatchFn<T, U> = (
  batches: AsyncIterable<readonly T[]>,
  partition: number,
) => AsyncIterable<readonly U[]>;

async function* items<T>(batches: AsyncIterable<readonly T[]>): AsyncGenerator<T> {
  for await (const batch of batches) yield* batch;
}

export type PartitionFn<T, U> = (
  items: AsyncIterable<T>,
  partition: number,
) => AsyncIterable<U> | Iterable<U>;

export type Action =
  | { kind: 'count' }
  | { kind: 'collect' }
  | { kind: 'take'; n: number }
  | { kind: 'reduce'; fn: (a: unknown, b: unknown) => unknown }
  | { kind: 'save'; path: string };

/** What an RDD needs of its context: ids, the default parallelism and running actions. */
export interface RddContext {
  nextRddId(): number;
  readonly defaultParallelism: number;
  runAction(rdd: RDD<unknown>, action: Action): Promise<unknown>;
}

export abstract class RDD<T> {
  readonly id: number;
  constructor(
    readonly context: RddContext,
    readonly numPartitions: number,
  ) {
    this.id = context.nextRddId();
  }

  /** `fn` gets the partition's items one by one and yields the new partition's. */
  mapPartitions<U>(fn: PartitionFn<T, U>): RDD<U> {
    return new PartitionRDD<T, U>(this, async function* (batches, partition) {
      let out: U[] = [];
      for await (const item of fn(items(batches), partition)) {
        out.push(item);
        if (out.length >= BATCH) {
          yield out;
          out = [];
        }
      }
      if (out.length > 0) yield out;
    });
  }

  map<U>(fn: (item: T) => U): RDD<U> {
    return new PartitionRDD<T, U>(this, async function* (batches) {
      for await (const batch of batches) yield batch.map((item) => fn(item));
    });
  }

  flatMap<U>(fn: (item: T) => Iterable<U>): RDD<U> {
    return new PartitionRDD<T, U>(this, async function* (batches) {
      for await (const batch of batches) {
        const out: U[] = [];
        for (const item of batch) for (const u of fn(item)) out.push(u);
        yield out;
      }
    });
  }

  filter(fn: (item: T) => boolean): RDD<T> {
    return new PartitionRDD<T, T>(this, async function* (batches) {
      for await (const batch of batches) yield batch.filter((item) => fn(item));
    });
  }

  union(other: RDD<T>): RDD<T> {
    return new UnionRDD<T>([this, other]);
  }

  /** The distinct items; they must be valid keys (see keys.ts). */
  distinct(numPartitions = this.numPartitions): RDD<T> {
    return this.map((item) => [item as Key, null] as const)
      .reduceByKey((a) => a, numPartitions)
      .map(([item]) => item as T);
  }

  reduceByKey<K extends Key, V>(
    this: RDD<readonly [K, V]>,
    fn: (a: Widen<V>, b: Widen<V>) => Widen<V>,
    numPartitions = this.numPartitions,
  ): RDD<[K, Widen<V>]> {
    return new ShuffledRDD<[K, Widen<V>]>(this, numPartitions, {
      kind: 'reduce',
      fn: fn as (a: unknown, b: unknown) => unknown,
    });
  }

  groupByKey<K extends Key, V>(
    this: RDD<readonly [K, V]>,
    numPartitions = this.numPartitions,
  ): RDD<[K, V[]]> {
    return new ShuffledRDD<[K, V[]]>(this, numPartitions, { kind: 'group' });
  }

  /** Sorted by key into one partition (range partitioning by sampling is not done yet). */
  sortByKey<K extends Key, V>(this: RDD<readonly [K, V]>, ascending = true): RDD<[K, V]> {
    return new ShuffledRDD<[K, V]>(this, 1, { kind: 'sort', ascending });
  }

  /** Inner join on keys: a tagged union grouped by key, then the cross product per key. */
  join<K extends Key, V, W>(
    this: RDD<readonly [K, V]>,
    other: RDD<readonly [K, W]>,
    numPartitions = Math.max(this.numPartitions, other.numPartitions),
  ): RDD<[K, [V, W]]> {
    const left = this.map(([k, v]) => [k, [0, v]] as [K, [0 | 1, unknown]]);
    const right = other.map(([k, w]) => [k, [1, w]] as [K, [0 | 1, unknown]]);
    return left
      .union(right)
      .groupByKey(numPartitions)
      .flatMap(function* ([k, tagged]) {
        const vs = tagged.filter(([side]) => side === 0).map(([, v]) => v as V);
        for (const [side, w] of tagged)
          if (side === 1) for (const v of vs) yield [k, [v, w as W]] as [K, [V, W]];
      });
  }

  count(): Promise<number> {
    return this.context.runAction(this, { kind: 'count' }) as Promise<number>;
  }

  collect(): Promise<T[]> {
    return this.context.runAction(this, { kind: 'collect' }) as Promise<T[]>;
  }

  take(n: number): Promise<T[]> {
    return this.context.runAction(this, { kind: 'take', n }) as Promise<T[]>;
  }

  reduce(fn: (a: T, b: T) => T): Promise<T> {
    return this.context.runAction(this, {
      kind: 'reduce',
      fn: fn as (a: unknown, b: unknown) => unknown,
    }) as Promise<T>;
  }

  /** Writes one sealed part file per partition into `path`, and the job's sealed manifest with them. */
  async saveAsTextFile(path: string): Promise<void> {
    await this.context.runAction(this, { kind: 'save', path });
  }
}

/** Lines of sealed input files, one partition per file. */
export class TextFileRDD extends RDD<string> {
  constructor(
    context: RddContext,
    readonly pattern: string,
    readonly files: readonly string[],
  ) {
    super(context, files.length);
  }
}

export class ParallelRDD<T> extends RDD<T> {
  constructor(
    context: RddContext,
    readonly slices: readonly (readonly T[])[],
  ) {
    super(context, slices.length);
  }
}

export class PartitionRDD<T, U> extends RDD<U> {
  constructor(
    readonly parent: RDD<T>,
    readonly fn: BatchFn<T, U>,
  ) {
    super(parent.context, parent.numPartitions);
  }
}

export class UnionRDD<T> extends RDD<T> {
  constructor(readonly parents: readonly RDD<T>[]) {
    super(
      parents[0].context,
      parents.reduce((n, p) => n + p.numPartitions, 0),
    );
  }

  /** The parent partition behind partition `index`. */
  locate(index: number): { parent: RDD<T>; index: number } {
    let i = index;
    for (const parent of this.parents) {
      if (i < parent.numPartitions) return { parent, index: i };
      i -= parent.numPartitions;
    }
    throw new RangeError(`union RDD ${this.id} has no partition ${index}`);
  }
}

export type ShuffleMode =
  | { kind: 'reduce'; fn: (a: unknown, b: unknown) => unknown }
  | { kind: 'group' }
  | { kind: 'sort'; ascending: boolean };

/** The reduce side of a shuffle: its parent's pairs, hash partitioned (or into one partition to sort). */
export class ShuffledRDD<T> extends RDD<T> {
  constructor(
    readonly parent: RDD<readonly [Key, unknown]>,
    numPartitions: number,
    readonly mode: ShuffleMode,
  ) {
    super(parent.context, numPartitions);
    if (!Number.isInteger(numPartitions) || numPartitions < 1)
      throw new RangeError(`a shuffle needs at least one partition, not ${numPartitions}`);
  }
}
