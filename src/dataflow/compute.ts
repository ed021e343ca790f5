/** Computing one partition of an RDD inside an executor: the narrow chain, text inputs and shuffle reads. */
import { inputKey, type JobKeys } from './keyring.ts';
import { spillDomain } from './domains.ts';
import { DataflowError } from './errors.ts';
import type { ExecutorHost } from './host-io.ts';
import { compareKeys, type Key } from './keys.ts';
import type { TaskMessage } from './messages.ts';
import { mapStageId } from './plan.ts';
import { BATCH, ParallelRDD, PartitionRDD, ShuffledRDD, TextFileRDD, UnionRDD, type RDD } from './rdd.ts';
import type { RecordInput } from './records.ts';
import { readShuffle } from './shuffle-io.ts';
import { ExternalSorter } from './sorter.ts';
import { blockLines, inputName, openInput } from './text-files.ts';

export interface TaskEnv {
  readonly message: TaskMessage;
  readonly keys: JobKeys;
  readonly jobKey: Uint8Array;
  readonly host: ExecutorHost;
  readonly attempt: string;
  readonly inputs: RecordInput[];
  readonly sorters: ExternalSorter[];
}

/** The items of partition `part` of `rdd`, in batches. */
export async function* compute(
  rdd: RDD<unknown>,
  part: number,
  env: TaskEnv,
): AsyncGenerator<readonly unknown[]> {
  if (rdd instanceof PartitionRDD) {
    yield* rdd.fn(compute(rdd.parent as RDD<unknown>, part, env), part);
  } else if (rdd instanceof UnionRDD) {
    const at = rdd.locate(part);
    yield* compute(at.parent as RDD<unknown>, at.index, env);
  } else if (rdd instanceof ParallelRDD) {
    const slice = rdd.slices[part];
    for (let i = 0; i < slice.length; i += BATCH) yield slice.slice(i, i + BATCH);
  } else if (rdd instanceof TextFileRDD) {
    yield* readText(rdd, part, env);
  } else if (rdd instanceof ShuffledRDD) {
    let batch: unknown[] = [];
    for await (const item of readShuffled(rdd, part, env)) {
      batch.push(item);
      if (batch.length >= BATCH) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  } else {
    throw new DataflowError(`RDD ${rdd.id} has an unknown kind`);
  }
}

async function* readText(rdd: TextFileRDD, part: number, env: TaskEnv): AsyncGenerator<string[]> {
  const path = rdd.files[part];
  const file = openInput(inputKey(env.jobKey), path, await env.host.readFile(path));
  env.inputs.push({
    type: 'file',
    rdd: rdd.id,
    part,
    dataset: file.setId,
    file: inputName(path),
    digest: file.digest,
    blocks: file.count,
  });
  for (const block of file.blocks) yield blockLines(block);
}

async function* readShuffled(rdd: ShuffledRDD<unknown>, part: number, env: TaskEnv): AsyncGenerator<unknown> {
  const { message, keys, host, attempt } = env;
  const stage = mapStageId(message.action, rdd.id);
  const side = { store: host.store, key: keys.get('shuffle'), job: keys.jobId, stage };
  const sorter = new ExternalSorter(
    {
      store: host.store,
      key: keys.get('spill'),
      domain: (run) => spillDomain(keys.jobId, message.stage.id, message.partition, attempt, run),
      prefix: `${keys.jobId}/spill/${message.stage.id}/p${message.partition}/${attempt}/s${rdd.id}`,
      memoryBytes: message.memoryBytes,
      blockBytes: message.blockBytes,
    },
    rdd.mode.kind === 'sort' && !rdd.mode.ascending,
  );
  env.sorters.push(sorter);
  const pairs = readShuffle(side, part, rdd.parent.numPartitions, message.shuffleInputs[stage], env.inputs);
  for await (const batch of pairs)
    for (const pair of batch) {
      const spilling = sorter.add(pair);
      if (spilling) await spilling;
    }
  const mode = rdd.mode;
  if (mode.kind === 'sort') {
    for await (const [k, v] of sorter.sorted()) yield [k, v];
    return;
  }
  let current: { key: Key; acc: unknown } | undefined;
  const emit = (c: { key: Key; acc: unknown }): unknown => [c.key, c.acc];
  for await (const [k, v] of sorter.sorted()) {
    if (current && compareKeys(current.key, k) === 0) {
      if (mode.kind === 'reduce') current.acc = mode.fn(current.acc, v);
      else (current.acc as unknown[]).push(v);
      continue;
    }
    if (current) yield emit(current);
    current = { key: k, acc: mode.kind === 'reduce' ? v : [v] };
  }
  if (current) yield emit(current);
}
