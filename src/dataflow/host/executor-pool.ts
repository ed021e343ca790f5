/**
 * Where tasks run. The scheduler sees executors only through this interface: job enclaves in this
 * process (`local[N]`) or executor processes over NATS, each hosting one.
 */
import type { TaskMessage, TaskOutcome } from '../messages.ts';

export interface ExecutorPool {
  readonly size: number;
  run(message: TaskMessage): Promise<TaskOutcome>;
  close(): Promise<void>;
}

/** An executor went away during a task (killed, crashed): the task may be retried elsewhere. */
export class ExecutorLost extends Error {
  override readonly name = 'ExecutorLost';
}

/** An error a task raised, carried across a thread or process by name and message. */
export interface TaskFailure {
  name: string;
  message: string;
}

/** A task's own error, rethrown on the scheduler's side under its original name. */
export class TaskFailed extends Error {
  constructor(readonly failure: TaskFailure) {
    super(failure.message);
    this.name = failure.name;
  }
}

/** Errors that retrying cannot fix: the job stops with them. */
export const isFatal = (failure: TaskFailure): boolean =>
  failure.name === 'IntegrityError' || failure.name === 'DataflowError';
