/**
 * `local[N]`: N executor JS enclaves in this process (each its own enclave Worker and sim platform
 * thread), each running tasks one at a time. An enclave that is lost (closed, crashed, stopped)
 * fails its task with ExecutorLost and is replaced by a fresh one, which fetches the key again.
 */
import { JsEnclaveError, type JsEnclave } from '../../host/js-enclave.ts';
import { decode, encode } from '../json-bytes.ts';
import type { TaskMessage, TaskOutcome } from '../messages.ts';
import type { JobEnclave } from './bundle.ts';
import { ExecutorLost, TaskFailed, type ExecutorPool } from './executor-pool.ts';
import { launchJobEnclave, type JobEnclaveHost } from './launch-job-enclave.ts';

interface Slot {
  enclave: JsEnclave;
}

export class LocalExecutorPool implements ExecutorPool {
  private readonly slots: Slot[] = [];
  private readonly idle: number[] = [];
  private readonly waiting: { resolve: (slot: number) => void; reject: (error: Error) => void }[] = [];
  private closing = false;
  /** Slots whose enclave could not be restarted. */
  private dead = 0;
  /** Called as a task is handed to executor `slot` (tests use it to kill executors mid-task). */
  onTaskStart?: (message: TaskMessage, slot: number) => void;

  private constructor(
    private readonly built: JobEnclave,
    private readonly host: JobEnclaveHost,
  ) {}

  static async start(executors: number, built: JobEnclave, host: JobEnclaveHost): Promise<LocalExecutorPool> {
    const pool = new LocalExecutorPool(built, host);
    try {
      for (let i = 0; i < executors; i++) {
        pool.slots.push({ enclave: await launchJobEnclave(built, host) });
        pool.release(i);
      }
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  private release(slot: number): void {
    const next = this.waiting.shift();
    if (next) next.resolve(slot);
    else this.idle.push(slot);
  }

  private acquire(): Promise<number> {
    const slot = this.idle.shift();
    if (slot !== undefined) return Promise.resolve(slot);
    if (this.dead === this.slots.length) return Promise.reject(this.allLost());
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private allLost(): ExecutorLost {
    return new ExecutorLost('no executor enclave is left: none could be restarted');
  }

  async run(message: TaskMessage): Promise<TaskOutcome> {
    const slot = await this.acquire();
    const state = this.slots[slot];
    const enclave = state.enclave;
    const reply = enclave.call('executeTask', [encode(message)]);
    this.onTaskStart?.(message, slot);
    try {
      const outcome = decode<TaskOutcome>((await reply) as Uint8Array);
      this.release(slot);
      return outcome;
    } catch (error) {
      if (error instanceof JsEnclaveError && error.code === 'threw') {
        this.release(slot);
        throw new TaskFailed({ name: error.errorName ?? 'Error', message: error.message });
      }
      await this.replace(slot, enclave);
      throw new ExecutorLost(`executor enclave ${slot} was lost during a task: ${(error as Error).message}`);
    }
  }

  /** A lost enclave is closed for good and a new one takes its slot. */
  private async replace(slot: number, lost: JsEnclave): Promise<void> {
    await lost.close();
    if (this.closing) return;
    try {
      this.slots[slot].enclave = await launchJobEnclave(this.built, this.host);
      this.release(slot);
    } catch (error) {
      process.stderr.write(
        `cloister: executor enclave ${slot} could not be restarted: ${(error as Error).message}\n`,
      );
      if (++this.dead === this.slots.length)
        for (const waiter of this.waiting.splice(0)) waiter.reject(this.allLost());
    }
  }

  /** The memory this host shares with the executor enclaves (rings, call channels), for audits. */
  hostVisibleMemory(): SharedArrayBuffer[] {
    return this.slots.flatMap((s) => s.enclave.hostVisibleMemory);
  }

  /** Kills executor `slot` as a crash would. */
  async terminate(slot: number): Promise<void> {
    await this.slots[slot].enclave.close();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.enclave.close()));
  }
}
