/** Tasks and outcomes on NATS (JSON with byte arrays as base64), and the names a job's resources get. */
import type { TaskMessage } from '../../messages.ts';

export { encode, decode } from '../../json-bytes.ts';

/** Per job: a work-queue stream of tasks, a KV bucket of task outcomes, an object store of blocks. */
export const names = (job: string) => ({
  stream: `CLOISTER_TASKS_${job}`,
  subject: `cloister.${job}.tasks`,
  consumer: 'executors',
  kv: `cloister-${job}`,
  blocks: `cloister-${job}-blocks`,
  bundle: 'job.enclave.json',
});

/** The KV key of a task's outcome: one per (stage, partition), created once (first commit wins). */
export const taskKey = (message: Pick<TaskMessage, 'stage' | 'partition'>): string =>
  `task.${message.stage.id.replace(/[^A-Za-z0-9_-]/g, '_')}.${message.partition}`;
