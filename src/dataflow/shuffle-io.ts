/**
 * The two ends of a shuffle. A mapper seals each reducer's pairs into its own set of blocks; a reducer
 * opens exactly one set from each mapper, which it counts itself from the lineage, not from the
 * scheduler's list.
 */
import { decodeBatch, encodeBatch, roughSize } from './batch.ts';
import { shuffleDomain } from './domains.ts';
import { IntegrityError } from './errors.ts';
import type { BlockStore } from './host-io.ts';
import { hashPartition } from './keys.ts';
import type { ShuffleInput } from './messages.ts';
import type { RecordInput, RecordOutput } from './records.ts';
import { openSet, sealBlock, SetDigest } from './seal.ts';
import type { Pair } from './sorter.ts';

export interface ShuffleSide {
  readonly store: BlockStore;
  readonly key: Uint8Array;
  readonly job: string;
  readonly stage: string;
  readonly attempt: string;
}

export class ShuffleWriter {
  private readonly buffers: Pair[][];
  private readonly sizes: number[];
  private readonly names: string[][];
  private readonly digests: SetDigest[];

  constructor(
    private readonly side: ShuffleSide,
    private readonly map: number,
    private readonly reducers: number,
    private readonly blockBytes: number,
  ) {
    this.buffers = Array.from({ length: reducers }, () => []);
    this.sizes = new Array<number>(reducers).fill(0);
    this.names = Array.from({ length: reducers }, () => []);
    this.digests = Array.from({ length: reducers }, () => new SetDigest());
  }

  /** Adds a pair; returns a promise only when a block is being written (no await per pair). */
  add(pair: Pair): Promise<void> | undefined {
    // Hashed even for one reducer: that also refuses keys without a canonical encoding.
    const r = hashPartition(pair[0], this.reducers);
    this.buffers[r].push(pair);
    this.sizes[r] += roughSize(pair);
    return this.sizes[r] > this.blockBytes ? this.flush(r, false) : undefined;
  }

  private async flush(r: number, last: boolean): Promise<void> {
    const { store, key, job, stage, attempt } = this.side;
    const index = this.names[r].length;
    const blob = sealBlock(
      key,
      shuffleDomain(job, stage, this.map, r, attempt),
      index,
      last,
      encodeBatch(this.buffers[r]),
    );
    const name = `${job}/${stage}/m${this.map}/${attempt}/r${r}/b${index}`;
    await store.put(name, blob);
    this.digests[r].add(blob);
    this.names[r].push(name);
    this.buffers[r] = [];
    this.sizes[r] = 0;
  }

  /** Closes every reducer's set (each gets at least its last block) and returns names and digests. */
  async finish(): Promise<{ names: string[][]; outputs: RecordOutput[] }> {
    for (let r = 0; r < this.reducers; r++) await this.flush(r, true);
    const outputs = this.digests.map((d, reduce): RecordOutput => ({
      type: 'shuffle',
      reduce,
      blocks: d.blocks,
      digest: d.hex(),
    }));
    return { names: this.names, outputs };
  }
}

/** Reads reducer `reduce`'s sets from all `mappers` mappers of a stage, checking there is one per mapper. */
export async function* readShuffle(
  side: Omit<ShuffleSide, 'attempt'>,
  reduce: number,
  mappers: number,
  inputs: readonly ShuffleInput[] | undefined,
  record: RecordInput[],
): AsyncGenerator<Pair[]> {
  const given = inputs ?? [];
  const maps = new Set(given.map((i) => i.map));
  if (
    given.length !== mappers ||
    maps.size !== mappers ||
    [...maps].some((m) => !Number.isInteger(m) || m < 0 || m >= mappers)
  )
    throw new IntegrityError(
      `${side.stage} reducer ${reduce}: got ${given.length} map outputs (maps ${[...maps].join(',')}), expected one from each of ${mappers} mappers`,
    );
  for (const input of [...given].sort((a, b) => a.map - b.map)) {
    const blobs = await Promise.all(input.blocks.map((name) => side.store.get(name)));
    const digest = new SetDigest();
    const domain = shuffleDomain(side.job, side.stage, input.map, reduce, input.attempt);
    const batches = openSet(side.key, domain, blobs, digest);
    record.push({
      type: 'shuffle',
      stage: side.stage,
      map: input.map,
      reduce,
      attempt: input.attempt,
      digest: digest.hex(),
      blocks: digest.blocks,
    });
    for (const batch of batches) yield decodeBatch(batch) as Pair[];
  }
}
