/** What the scheduler sends an executor for one task, and what comes back: ids, counts and ciphertext. */
import type { StagePlan } from './plan.ts';
import type { TaskRecord } from './records.ts';

/** One mapper's committed output for one reducer: which attempt, and its blocks in order. */
export interface ShuffleInput {
  map: number;
  attempt: string;
  blocks: string[];
}

export interface TaskMessage {
  jobId: string;
  action: number;
  defaultParallelism: number;
  args: readonly string[];
  /** Sealed values of the earlier actions, which a replay of the job file needs to reach this one. */
  priorValues: Uint8Array[];
  /** Files of every text RDD created so far, by RDD id. */
  files: Record<number, readonly string[]>;
  stage: StagePlan;
  partition: number;
  /** By parent stage id. */
  shuffleInputs: Record<string, ShuffleInput[]>;
  memoryBytes: number;
  blockBytes: number;
}

export interface TaskOutcome {
  attempt: string;
  record: TaskRecord;
  /** Map stages: block names by reducer. */
  shuffleOutputs?: string[][];
  /** Result stages of collect/count/take/reduce: the sealed partition result. */
  result?: Uint8Array;
  /** Result stages of a save: the store name of the sealed part file. */
  output?: string;
  /** Runs this task spilled to the store (the host sees them anyway). */
  spilledRuns: number;
}
