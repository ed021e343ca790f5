/**
 * The scheduler (untrusted): runs an action's stages in order, each stage's tasks on the executor
 * pool, retries tasks whose executor was lost, keeps the first committed outcome of each task (a
 * later duplicate is dropped and its blocks removed), routes map outputs to reducers and publishes
 * saved part files. It sees only ids, counts, block names, sizes and ciphertext.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlockStore } from '../host-io.ts';
import type { ShuffleInput, TaskMessage, TaskOutcome } from '../messages.ts';
import type { ActionPlan, StagePlan } from '../plan.ts';
import type { ActionOutcome, TaskTemplate } from '../program.ts';
import { partFileName } from '../text-files.ts';
import { isFatal, type ExecutorPool } from './executor-pool.ts';

export interface SchedulerOptions {
  readonly maxAttempts?: number;
  /** What a compromised scheduler could do to a task before sending it (tests of the defences use it). */
  readonly rewriteTask?: (message: TaskMessage, store: BlockStore) => TaskMessage | Promise<TaskMessage>;
}

export interface SchedulerStats {
  tasks: number;
  retries: number;
  duplicatesDropped: number;
  spilledRuns: number;
}

export class Scheduler {
  readonly stats: SchedulerStats = { tasks: 0, retries: 0, duplicatesDropped: 0, spilledRuns: 0 };
  private readonly committed = new Map<string, TaskOutcome>();

  constructor(
    private readonly pool: ExecutorPool,
    private readonly store: BlockStore,
    private readonly options: SchedulerOptions = {},
  ) {}

  async runAction(plan: ActionPlan, template: TaskTemplate): Promise<ActionOutcome> {
    const outcomes = new Map<string, TaskOutcome[]>();
    try {
      for (const stage of plan.stages) {
        const tasks = Array.from({ length: stage.partitions }, (_, partition) =>
          this.runTask({
            ...template,
            stage,
            partition,
            shuffleInputs: this.route(stage, partition, outcomes),
          }),
        );
        outcomes.set(stage.id, await Promise.all(tasks));
      }
      const final = outcomes.get(plan.stages[plan.stages.length - 1].id)!;
      if (plan.kind === 'save') await this.publish(plan.path!, final);
      return {
        records: [...outcomes.values()].flat().map((o) => o.record),
        results: final.filter((o) => o.result).map((o) => ({ part: o.record.part, blob: o.result! })),
      };
    } finally {
      await this.store.remove(
        [...outcomes.values()]
          .flat()
          .flatMap((o) => [...(o.shuffleOutputs ?? []).flat(), ...(o.output ? [o.output] : [])]),
      );
    }
  }

  private route(
    stage: StagePlan,
    partition: number,
    outcomes: Map<string, TaskOutcome[]>,
  ): Record<string, ShuffleInput[]> {
    const leaf = stage.leaves[partition];
    if (leaf.kind !== 'shuffle') return {};
    const mappers = outcomes.get(leaf.stage)!;
    return {
      [leaf.stage]: mappers.map((o) => ({
        map: o.record.part,
        attempt: o.attempt,
        blocks: o.shuffleOutputs![leaf.reduce],
      })),
    };
  }

  private async runTask(message: TaskMessage): Promise<TaskOutcome> {
    const maxAttempts = this.options.maxAttempts ?? 4;
    const sent = this.options.rewriteTask ? await this.options.rewriteTask(message, this.store) : message;
    for (let attempt = 1; ; attempt++) {
      this.stats.tasks++;
      try {
        return await this.commit(await this.pool.run(sent));
      } catch (error) {
        const e = error as Error;
        if (isFatal(e) || attempt >= maxAttempts) throw e;
        this.stats.retries++;
      }
    }
  }

  /** First commit wins: a second outcome for the same task (a redelivery) is dropped with its blocks. */
  private async commit(outcome: TaskOutcome): Promise<TaskOutcome> {
    const id = `${outcome.record.stage}/${outcome.record.part}`;
    const first = this.committed.get(id);
    this.stats.spilledRuns += outcome.spilledRuns;
    if (!first) {
      this.committed.set(id, outcome);
      return outcome;
    }
    this.stats.duplicatesDropped++;
    await this.store.remove([
      ...(outcome.shuffleOutputs ?? []).flat(),
      ...(outcome.output ? [outcome.output] : []),
    ]);
    return first;
  }

  /** Copies the committed part files to `path` (which must not already hold part files). */
  private async publish(path: string, final: TaskOutcome[]): Promise<void> {
    await mkdir(path, { recursive: true });
    const existing = (await readdir(path)).filter((n) => n.startsWith('part-') || n.startsWith('_MANIFEST'));
    await Promise.all(existing.map((n) => rm(join(path, n))));
    for (const o of final)
      await writeFile(join(path, partFileName(o.record.part)), await this.store.get(o.output!));
  }
}
