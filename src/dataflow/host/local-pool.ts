/**
 * `local[N]`: N executor worker threads in this process, each running tasks one at a time. A thread
 * that dies (crash, terminate) fails its task with ExecutorLost and is replaced. Worker threads are
 * no isolation boundary: this pool stands in, behind ExecutorPool, for JS enclaves.
 */
import { Worker } from 'node:worker_threads';
import type { TaskMessage, TaskOutcome } from '../messages.ts';
import { ExecutorLost, TaskFailed, type ExecutorPool, type TaskFailure } from './executor-pool.ts';

export interface LocalPoolOptions {
  /** The built worker-executor script. */
  readonly script: string;
  readonly bundle: string;
  readonly store: string;
  readonly jobKey: Uint8Array;
}

interface Pending {
  id: number;
  resolve: (outcome: TaskOutcome) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  pending?: Pending;
}

export class LocalExecutorPool implements ExecutorPool {
  private readonly slots: Slot[] = [];
  private readonly idle: number[] = [];
  private readonly waiting: ((slot: number) => void)[] = [];
  private nextId = 0;
  private closing = false;
  /** Called as a task is handed to executor `slot` (tests use it to kill executors mid-task). */
  onTaskStart?: (message: TaskMessage, slot: number) => void;

  private constructor(private readonly options: LocalPoolOptions) {}

  static async start(executors: number, options: LocalPoolOptions): Promise<LocalExecutorPool> {
    const pool = new LocalExecutorPool(options);
    for (let i = 0; i < executors; i++) {
      pool.slots.push({ worker: await pool.spawn(i) });
      pool.release(i);
    }
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  private spawn(slot: number): Promise<Worker> {
    const { script, bundle, store, jobKey } = this.options;
    const worker = new Worker(script, { workerData: { bundle, store, jobKey } });
    worker.on('message', (m: { id?: number; outcome?: TaskOutcome; failure?: TaskFailure }) => {
      const pending = this.slots[slot]?.pending;
      if (m.id === undefined || !pending || pending.id !== m.id) return;
      this.slots[slot].pending = undefined;
      if (m.failure) pending.reject(new TaskFailed(m.failure));
      else pending.resolve(m.outcome!);
      this.release(slot);
    });
    worker.on('error', () => {});
    worker.on('exit', () => this.lost(slot, worker));
    return new Promise((resolve, reject) => {
      worker.once('message', () => resolve(worker));
      worker.once('exit', (code) =>
        reject(new ExecutorLost(`executor ${slot} exited with ${code} while starting`)),
      );
    });
  }

  private lost(slot: number, worker: Worker): void {
    const state = this.slots[slot];
    if (!state || state.worker !== worker) return;
    const pending = state.pending;
    state.pending = undefined;
    pending?.reject(new ExecutorLost(`executor ${slot} was lost during a task`));
    if (this.closing) return;
    this.spawn(slot).then(
      (replacement) => {
        state.worker = replacement;
        this.release(slot);
      },
      () => {},
    );
  }

  private release(slot: number): void {
    const next = this.waiting.shift();
    if (next) next(slot);
    else this.idle.push(slot);
  }

  private acquire(): Promise<number> {
    const slot = this.idle.shift();
    return slot !== undefined ? Promise.resolve(slot) : new Promise((resolve) => this.waiting.push(resolve));
  }

  async run(message: TaskMessage): Promise<TaskOutcome> {
    const slot = await this.acquire();
    const state = this.slots[slot];
    return new Promise<TaskOutcome>((resolve, reject) => {
      const id = this.nextId++;
      state.pending = { id, resolve, reject };
      state.worker.postMessage({ id, message });
      this.onTaskStart?.(message, slot);
    });
  }

  /** Kills executor `slot` as a crash would. */
  async terminate(slot: number): Promise<void> {
    await this.slots[slot].worker.terminate();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
