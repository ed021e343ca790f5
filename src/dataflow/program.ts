/**
 * The job program: runs the job file, plans each action, hands the plan to the (untrusted) scheduler,
 * checks the committed task records for completeness before it opens any result, and keeps the
 * manifest. It holds the job key, so it runs inside a job enclave (enclave-app.ts), never in the driver.
 */
import { actionValueDomain, resultDomain } from './domains.ts';
import { checkAction } from './completeness.ts';
import { SparkContext, type Job } from './context.ts';
import { IntegrityError } from './errors.ts';
import { jobKeys } from './keyring.ts';
import { chainTag, orderRecords, sealManifest, type ManifestAction } from './manifest.ts';
import type { TaskMessage } from './messages.ts';
import { planAction, type ActionPlan } from './plan.ts';
import type { Action, RDD } from './rdd.ts';
import type { TaskRecord } from './records.ts';
import { openBlock, sealBlock } from './seal.ts';
import { createHash } from 'node:crypto';

export type TaskTemplate = Omit<TaskMessage, 'stage' | 'partition' | 'shuffleInputs'>;

export interface ActionOutcome {
  /** The committed record of every task of every stage. */
  records: TaskRecord[];
  /** The result stage's sealed partition results (not for saves). */
  results: { part: number; blob: Uint8Array }[];
}

export interface ProgramHost {
  readonly defaultParallelism: number;
  readonly args: readonly string[];
  readonly memoryBytes: number;
  readonly blockBytes: number;
  listFiles(pattern: string): string[];
  runAction(plan: ActionPlan, template: TaskTemplate): Promise<ActionOutcome>;
}

export interface ProgramResult {
  /** A sealed manifest for each saved output directory. */
  manifests: { path: string; bytes: Buffer }[];
  actions: number;
}

export async function runProgram(
  job: Job,
  jobKey: Uint8Array,
  jobId: string,
  /** The job enclave's MRENCLAVE (hex), recorded in the manifest. */
  bundle: string,
  host: ProgramHost,
): Promise<ProgramResult> {
  const keys = jobKeys(jobKey, jobId);
  const files: Record<number, readonly string[]> = {};
  const priorValues: Uint8Array[] = [];
  const actions: ManifestAction[] = [];

  const runAction = async (index: number, rdd: RDD<unknown>, action: Action): Promise<unknown> => {
    const plan = planAction(index, rdd, action);
    const template: TaskTemplate = {
      jobId,
      action: index,
      defaultParallelism: host.defaultParallelism,
      args: host.args,
      priorValues: [...priorValues],
      files: { ...files },
      memoryBytes: host.memoryBytes,
      blockBytes: host.blockBytes,
    };
    const outcome = await host.runAction(plan, template);
    checkAction(keys.get('manifest'), jobId, plan, outcome.records);
    const value = action.kind === 'save' ? null : combine(action, openResults(plan, outcome));
    priorValues[index] = sealBlock(
      keys.get('result'),
      actionValueDomain(jobId, index),
      0,
      true,
      Buffer.from(JSON.stringify({ v: value })),
    );
    actions[index] = { plan, records: orderRecords(plan, outcome.records) };
    return action.kind === 'save' ? undefined : value;
  };

  /** Opens each result partition once, from the attempt its committed record names, with the digest it records. */
  const openResults = (plan: ActionPlan, outcome: ActionOutcome): unknown[] => {
    const stage = plan.stages[plan.stages.length - 1];
    const records = outcome.records.filter((r) => r.stage === stage.id);
    const values: unknown[] = [];
    for (const { part, blob } of outcome.results) {
      const record = records.find((r) => r.part === part);
      const recorded = record?.outputs.find((o) => o.type === 'result');
      if (
        !record ||
        !recorded ||
        recorded.type !== 'result' ||
        recorded.digest !== createHash('sha256').update(blob).digest('hex')
      )
        throw new IntegrityError(
          `${stage.id}: the result of partition ${part} is not the one its record names`,
        );
      if (part in values) throw new IntegrityError(`${stage.id}: two results of partition ${part}`);
      const { plaintext } = openBlock(
        keys.get('result'),
        resultDomain(jobId, plan.action, part, record.attempt),
        0,
        blob,
      );
      values[part] = (JSON.parse(plaintext.toString('utf8')) as { v: unknown }).v;
    }
    for (let p = 0; p < stage.partitions; p++)
      if (!(p in values)) throw new IntegrityError(`${stage.id}: no result of partition ${p}`);
    return values;
  };

  const sc = new SparkContext({
    defaultParallelism: host.defaultParallelism,
    args: host.args,
    listFiles(pattern, rddId) {
      return (files[rddId] = host.listFiles(pattern));
    },
    runAction,
  });
  await job(sc);

  const chain = chainTag(keys.get('manifest'), jobId, bundle, actions);
  const manifests = actions
    .filter((a) => a.plan.kind === 'save')
    .map((a) => ({
      path: a.plan.path!,
      bytes: sealManifest(keys, { version: 1, job: jobId, bundle, actions, saved: a.plan.action, chain }),
    }));
  return { manifests, actions: actions.length };
}

function combine(action: Action, parts: unknown[]): unknown {
  switch (action.kind) {
    case 'count':
      return (parts as number[]).reduce((a, b) => a + b, 0);
    case 'collect':
      return (parts as unknown[][]).flat(1);
    case 'take':
      return (parts as unknown[][]).flat(1).slice(0, action.n);
    case 'reduce': {
      const values = (parts as unknown[][]).flat(1);
      if (values.length === 0) throw new TypeError('reduce of an empty RDD');
      return values.reduce((a, b) => action.fn(a, b));
    }
    default:
      return null;
  }
}
