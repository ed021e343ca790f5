/** Tasks and outcomes on NATS: JSON with byte arrays as base64, and the names a job's resources get. */
import type { TaskMessage } from '../../messages.ts';

export function encode(value: unknown): Uint8Array {
  const text = JSON.stringify(value, (_key, v: unknown) =>
    v instanceof Uint8Array
      ? { $b64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') }
      : v,
  );
  return Buffer.from(text, 'utf8');
}

export function decode<T>(bytes: Uint8Array): T {
  return JSON.parse(Buffer.from(bytes).toString('utf8'), (_key, v: unknown) =>
    v !== null && typeof v === 'object' && typeof (v as { $b64?: unknown }).$b64 === 'string'
      ? new Uint8Array(Buffer.from((v as { $b64: string }).$b64, 'base64'))
      : v,
  ) as T;
}

/** Per job: a work-queue stream of tasks, a KV bucket of task outcomes, an object store of blocks. */
export const names = (job: string) => ({
  stream: `CLOISTER_TASKS_${job}`,
  subject: `cloister.${job}.tasks`,
  consumer: 'executors',
  kv: `cloister-${job}`,
  blocks: `cloister-${job}-blocks`,
  bundle: 'job.bundle.mjs',
});

/** The KV key of a task's outcome: one per (stage, partition), created once (first commit wins). */
export const taskKey = (message: Pick<TaskMessage, 'stage' | 'partition'>): string =>
  `task.${message.stage.id.replace(/[^A-Za-z0-9_-]/g, '_')}.${message.partition}`;
