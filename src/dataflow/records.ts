/**
 * Task records: what each committed task read and wrote, as set digests, MAC'd by the executor with
 * the job's manifest key. The scheduler carries them but cannot forge or alter them.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { IntegrityError } from './errors.ts';

export type RecordInput =
  | { type: 'file'; rdd: number; part: number; dataset: string; file: string; digest: string; blocks: number }
  | {
      type: 'shuffle';
      stage: string;
      map: number;
      reduce: number;
      attempt: string;
      digest: string;
      blocks: number;
    };

export type RecordOutput =
  | { type: 'shuffle'; reduce: number; digest: string; blocks: number }
  | { type: 'part'; part: number; digest: string; blocks: number }
  | { type: 'result'; digest: string };

export interface TaskRecord {
  job: string;
  stage: string;
  part: number;
  attempt: string;
  inputs: RecordInput[];
  outputs: RecordOutput[];
  mac: string;
}

const body = (record: Omit<TaskRecord, 'mac'>): string =>
  JSON.stringify([record.job, record.stage, record.part, record.attempt, record.inputs, record.outputs]);

export function signRecord(key: Uint8Array, record: Omit<TaskRecord, 'mac'>): TaskRecord {
  return { ...record, mac: createHmac('sha256', key).update(body(record)).digest('hex') };
}

export function checkRecordMac(key: Uint8Array, record: TaskRecord): void {
  const expected = createHmac('sha256', key).update(body(record)).digest();
  const given = Buffer.from(typeof record.mac === 'string' ? record.mac : '', 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new IntegrityError(`task record of ${record.stage} partition ${record.part}: bad MAC`);
}
