/**
 * Executors find a task's closures by replaying the job file up to the task's action: earlier actions
 * return the values the job program recorded (sealed), and the task's own action hands over its RDD
 * and never returns. The replay is cached per action.
 */
import { actionValueDomain } from './domains.ts';
import { SparkContext, type Job } from './context.ts';
import { DataflowError } from './errors.ts';
import type { JobKeys } from './keyring.ts';
import type { TaskMessage } from './messages.ts';
import { PartitionRDD, ShuffledRDD, UnionRDD, type Action, type RDD } from './rdd.ts';
import { openBlock } from './seal.ts';

export interface Replayed {
  readonly rdd: RDD<unknown>;
  readonly action: Action;
}

export function openActionValue(keys: JobKeys, action: number, blob: Uint8Array): unknown {
  const { plaintext } = openBlock(keys.get('result'), actionValueDomain(keys.jobId, action), 0, blob);
  return (JSON.parse(plaintext.toString('utf8')) as { v: unknown }).v;
}

export function replay(job: Job, keys: JobKeys, message: TaskMessage): Promise<Replayed> {
  return new Promise<Replayed>((resolve, reject) => {
    const sc = new SparkContext({
      defaultParallelism: message.defaultParallelism,
      args: message.args,
      listFiles(pattern, rddId) {
        const files = message.files[rddId];
        if (!files)
          throw new DataflowError(
            `replay: no files for text RDD ${rddId} (${pattern}): the job file is not deterministic`,
          );
        return files;
      },
      runAction(index, rdd, action) {
        if (index < message.action) {
          const blob = message.priorValues[index];
          if (!blob) return Promise.reject(new DataflowError(`replay: no value of action ${index}`));
          return Promise.resolve(openActionValue(keys, index, blob));
        }
        if (index === message.action) resolve({ rdd, action });
        return new Promise(() => {});
      },
    });
    Promise.resolve(job(sc)).then(
      () => reject(new DataflowError(`replay: the job ended before its action ${message.action}`)),
      reject,
    );
  });
}

/** The RDD with id `id` in the lineage of `rdd`. */
export function findRdd(rdd: RDD<unknown>, id: number): RDD<unknown> {
  const stack: RDD<unknown>[] = [rdd];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.id === id) return node;
    if (node instanceof PartitionRDD || node instanceof ShuffledRDD) stack.push(node.parent as RDD<unknown>);
    if (node instanceof UnionRDD) stack.push(...(node.parents as RDD<unknown>[]));
  }
  throw new DataflowError(`replay: no RDD ${id} in the lineage: the job file is not deterministic`);
}
