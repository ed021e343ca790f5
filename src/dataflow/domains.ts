/** The domains (associated data) of every kind of sealed block; one builder each keeps field order fixed. */
import type { Domain } from './seal.ts';

export const inputDomain = (dataset: string, file: string): Domain => ({ kind: 'input', dataset, file });

export const datasetDomain = (dataset: string): Domain => ({ kind: 'dataset', dataset });

export const shuffleDomain = (
  job: string,
  stage: string,
  map: number,
  reduce: number,
  attempt: string,
): Domain => ({
  kind: 'shuffle',
  job,
  stage,
  partition: map,
  output: reduce,
  attempt,
});

export const spillDomain = (
  job: string,
  stage: string,
  partition: number,
  attempt: string,
  run: number,
): Domain => ({
  kind: 'spill',
  job,
  stage,
  partition,
  attempt,
  run,
});

export const outputDomain = (job: string, action: number, partition: number): Domain => ({
  kind: 'output',
  job,
  action,
  partition,
});

export const resultDomain = (job: string, action: number, partition: number, attempt: string): Domain => ({
  kind: 'result',
  job,
  action,
  partition,
  attempt,
});

/** An action's final value, as the job program hands it to executors replaying later actions. */
export const actionValueDomain = (job: string, action: number): Domain => ({
  kind: 'action-value',
  job,
  action,
});

export const manifestDomain = (job: string): Domain => ({ kind: 'manifest', job });
