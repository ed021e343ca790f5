/**
 * Running one task in an executor: replay the job file to the task's action, compute the stage's
 * partition, write its sealed output (shuffle sets, a part file or a sealed result) and sign a record
 * of what it read and wrote.
 */
import { createHash, randomBytes } from 'node:crypto';
import { roughSize } from './batch.ts';
import { compute, type TaskEnv } from './compute.ts';
import type { Job } from './context.ts';
import { outputDomain, resultDomain } from './domains.ts';
import { DataflowError, IntegrityError } from './errors.ts';
import type { ExecutorHost } from './host-io.ts';
import { encodeKey, type Key } from './keys.ts';
import { jobKeys } from './keyring.ts';
import type { TaskMessage, TaskOutcome } from './messages.ts';
import { mapStageId, resultStageId } from './plan.ts';
import type { Action, RDD } from './rdd.ts';
import { ShuffledRDD } from './rdd.ts';
import { signRecord, type RecordOutput } from './records.ts';
import { findRdd, replay, type Replayed } from './replay.ts';
import { sealBlock } from './seal.ts';
import { ShuffleWriter } from './shuffle-io.ts';
import type { Pair } from './sorter.ts';
import { lineBlocks, sealTextFile } from './text-files.ts';

const replays = new Map<string, Promise<Replayed>>();

export async function runTask(
  job: Job,
  jobKey: Uint8Array,
  host: ExecutorHost,
  message: TaskMessage,
): Promise<TaskOutcome> {
  const keys = jobKeys(jobKey, message.jobId);
  const cacheKey = `${message.jobId}/${message.action}`;
  let replayed = replays.get(cacheKey);
  if (!replayed) replays.set(cacheKey, (replayed = replay(job, keys, message)));
  const { rdd: final, action } = await replayed;
  const env: TaskEnv = {
    message,
    keys,
    jobKey,
    host,
    attempt: randomBytes(8).toString('hex'),
    inputs: [],
    sorters: [],
  };
  const rdd = checkStage(final, message);
  try {
    const written = message.stage.shuffle
      ? await writeShuffle(rdd, findRdd(final, message.stage.shuffle.rdd), env)
      : await writeResult(rdd, action, env);
    const record = signRecord(keys.get('manifest'), {
      job: keys.jobId,
      stage: message.stage.id,
      part: message.partition,
      attempt: env.attempt,
      inputs: env.inputs,
      outputs: written.outputs,
    });
    const spilledRuns = env.sorters.reduce((n, s) => n + s.spilledRuns, 0);
    return { ...written.outcome, attempt: env.attempt, record, spilledRuns };
  } finally {
    for (const sorter of env.sorters) await sorter.cleanup();
  }
}

/**
 * The scheduler says which stage and partition to run; the executor checks that against the lineage
 * it rebuilt, so that a task cannot be pointed at another RDD (skipping a filter, say) under a stage
 * id the job program will accept.
 */
function checkStage(final: RDD<unknown>, message: TaskMessage): RDD<unknown> {
  const { stage, partition, action } = message;
  let rdd: RDD<unknown>;
  if (stage.shuffle) {
    const shuffle = findRdd(final, stage.shuffle.rdd);
    if (!(shuffle instanceof ShuffledRDD))
      throw new IntegrityError(`task for ${stage.id}: RDD ${shuffle.id} is no shuffle`);
    rdd = shuffle.parent as RDD<unknown>;
    if (stage.id !== mapStageId(action, shuffle.id) || stage.shuffle.reducers !== shuffle.numPartitions)
      throw new IntegrityError(`task for ${stage.id}: not the map stage of shuffle ${shuffle.id}`);
  } else {
    rdd = final;
    if (stage.id !== resultStageId(action))
      throw new IntegrityError(`task for ${stage.id}: not the result stage of action ${action}`);
  }
  if (stage.rdd !== rdd.id || stage.partitions !== rdd.numPartitions)
    throw new IntegrityError(`task for ${stage.id}: names RDD ${stage.rdd}, the lineage says RDD ${rdd.id}`);
  if (!Number.isInteger(partition) || partition < 0 || partition >= rdd.numPartitions)
    throw new IntegrityError(`task for ${stage.id}: no partition ${partition}`);
  return rdd;
}

type Written = { outputs: RecordOutput[]; outcome: Partial<TaskOutcome> };

async function writeShuffle(rdd: RDD<unknown>, shuffle: RDD<unknown>, env: TaskEnv): Promise<Written> {
  if (!(shuffle instanceof ShuffledRDD)) throw new DataflowError(`RDD ${shuffle.id} is not a shuffle`);
  const { message, keys, host } = env;
  const writer = new ShuffleWriter(
    {
      store: host.store,
      key: keys.get('shuffle'),
      job: keys.jobId,
      stage: message.stage.id,
      attempt: env.attempt,
    },
    message.partition,
    shuffle.numPartitions,
    message.blockBytes,
  );
  const batches = compute(rdd, message.partition, env) as AsyncGenerator<readonly Pair[]>;
  const mode = shuffle.mode;
  if (mode.kind === 'reduce') {
    // Map-side combine, flushed to the reducers whenever it outgrows the memory bound.
    let combined = new Map<string, [Key, unknown]>();
    let bytes = 0;
    const flush = async (): Promise<void> => {
      for (const pair of combined.values()) await writer.add(pair);
      combined = new Map();
      bytes = 0;
    };
    for await (const batch of batches) {
      for (const [k, v] of batch) {
        const id = encodeKey(k);
        const entry = combined.get(id);
        if (entry) entry[1] = mode.fn(entry[1], v);
        else {
          combined.set(id, [k, v]);
          bytes += roughSize(k) + roughSize(v) + 64;
        }
      }
      if (bytes > message.memoryBytes) await flush();
    }
    await flush();
  } else {
    for await (const batch of batches)
      for (const pair of batch) {
        const writing = writer.add(pair);
        if (writing) await writing;
      }
  }
  const { names, outputs } = await writer.finish();
  return { outputs, outcome: { shuffleOutputs: names } };
}

async function writeResult(rdd: RDD<unknown>, action: Action, env: TaskEnv): Promise<Written> {
  const { message, keys, host } = env;
  const batches = compute(rdd, message.partition, env);
  if (action.kind === 'save') {
    const all: string[] = [];
    for await (const batch of batches)
      for (const item of batch) all.push(typeof item === 'string' ? item : JSON.stringify(item));
    const sealed = sealTextFile(
      keys.get('output'),
      keys.jobId,
      outputDomain(keys.jobId, message.action, message.partition),
      lineBlocks(all, message.blockBytes),
    );
    const name = `${keys.jobId}/a${message.action}/out/p${message.partition}/${env.attempt}`;
    await host.store.put(name, sealed.bytes);
    return {
      outputs: [{ type: 'part', part: message.partition, digest: sealed.digest, blocks: sealed.blocks }],
      outcome: { output: name },
    };
  }
  const value = await partitionResult(batches, action);
  const blob = sealBlock(
    keys.get('result'),
    resultDomain(keys.jobId, message.action, message.partition, env.attempt),
    0,
    true,
    Buffer.from(JSON.stringify({ v: value }), 'utf8'),
  );
  return {
    outputs: [{ type: 'result', digest: createHash('sha256').update(blob).digest('hex') }],
    outcome: { result: blob },
  };
}

/** What one partition contributes to an action's value. */
async function partitionResult(
  batches: AsyncGenerator<readonly unknown[]>,
  action: Action,
): Promise<unknown> {
  switch (action.kind) {
    case 'count': {
      let n = 0;
      for await (const batch of batches) n += batch.length;
      return n;
    }
    case 'collect':
    case 'take': {
      // take() still reads the whole partition: the manifest proves every input was read.
      const limit = action.kind === 'take' ? action.n : Infinity;
      const out: unknown[] = [];
      for await (const batch of batches) for (const item of batch) if (out.length < limit) out.push(item);
      return out;
    }
    case 'reduce': {
      let acc: { value: unknown } | undefined;
      for await (const batch of batches)
        for (const item of batch) acc = acc ? { value: action.fn(acc.value, item) } : { value: item };
      return acc ? [acc.value] : [];
    }
    default:
      throw new DataflowError(`unknown action ${action.kind}`);
  }
}
