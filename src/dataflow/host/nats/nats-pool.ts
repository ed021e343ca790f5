/**
 * `nats://`: executors as separate processes behind NATS JetStream. The pool creates the job's
 * work-queue stream (explicit ack, redelivery after the ack wait), its KV bucket of task outcomes and
 * its object store of blocks (with the job enclave's bundle and configuration), starts the executor processes, publishes tasks and
 * waits for their outcomes in KV. It removes all of them when the job ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { TaskMessage, TaskOutcome } from '../../messages.ts';
import type { JobEnclave } from '../bundle.ts';
import { ExecutorLost, TaskFailed, type ExecutorPool, type TaskFailure } from '../executor-pool.ts';
import { NatsBlockStore } from './nats-store.ts';
import { decode, encode, names, taskKey } from './wire.ts';
import { retrying } from './retry.ts';

export interface NatsPoolOptions {
  readonly url: string;
  readonly job: string;
  readonly executors: number;
  readonly executorScript: string;
  readonly enclave: JobEnclave;
  /** Key-file development mode only: handed to each executor process on its stdin. */
  readonly devJobKey?: Uint8Array;
  /** The sim platform file the executors' enclaves use. */
  readonly platformPath?: string;
  /** How long a task may go without an ack or heartbeat before it is redelivered. */
  readonly ackWaitMs?: number;
  /** Copies of the job's stream, KV bucket and object store in a JetStream cluster (default 1). */
  readonly replicas?: number;
  /** The working directory of the executor processes (they read nothing from it). */
  readonly executorCwd?: string;
}

interface Waiter {
  resolve: (outcome: TaskOutcome) => void;
  reject: (error: Error) => void;
}

/** `nats://a:1,b:2` (or `nats://a:1,nats://b:2`): the servers of one cluster. */
export const serverList = (url: string): string[] =>
  url.split(',').map((s) => s.trim().replace(/^nats:\/\//, ''));

/** How often outcomes still awaited are read from KV directly, besides the watcher. */
const POLL_MS = 2000;

const alive = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;

export class NatsExecutorPool implements ExecutorPool {
  private readonly waiters = new Map<string, Waiter>();
  private readonly children: ChildProcess[] = [];
  private published = 0;
  private closing = false;
  private poller: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  /** Called as an executor starts a task (tests use it to kill executors mid-task). */
  onTaskStart?: (key: string, executor: number) => void;

  private constructor(
    private readonly options: NatsPoolOptions,
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    private readonly objects: ObjectStore,
  ) {}

  readonly store = (): NatsBlockStore => new NatsBlockStore(this.objects);

  static async start(options: NatsPoolOptions): Promise<NatsExecutorPool> {
    const n = names(options.job);
    const nc = await connect({ servers: serverList(options.url), maxReconnectAttempts: -1 });
    try {
      const jsm = await jetstreamManager(nc);
      const replicas = options.replicas ?? 1;
      // A cluster that has just started refuses replicated assets until its servers know each
      // other ("no suitable peers for placement"); each creation is idempotent, so it is retried.
      await retrying(() =>
        jsm.streams.add({
          name: n.stream,
          subjects: [n.subject],
          retention: RetentionPolicy.Workqueue,
          num_replicas: replicas,
        }),
      );
      await retrying(() =>
        jsm.consumers.add(n.stream, {
          durable_name: n.consumer,
          ack_policy: AckPolicy.Explicit,
          ack_wait: (options.ackWaitMs ?? 10_000) * 1_000_000,
          max_deliver: 8,
          num_replicas: replicas,
        }),
      );
      const kv = await retrying(() => new Kvm(nc).create(n.kv, { replicas }));
      const objects = await retrying(() => new Objm(nc).create(n.blocks, { replicas }));
      await retrying(() => objects.putBlob({ name: n.bundle }, encode(options.enclave)));
      const pool = new NatsExecutorPool(options, nc, kv, objects);
      await pool.watch();
      for (let i = 0; i < options.executors; i++) pool.children.push(pool.spawn(i));
      return pool;
    } catch (error) {
      await nc.close();
      throw error;
    }
  }

  get size(): number {
    return this.options.executors;
  }

  private spawn(index: number): ChildProcess {
    const { url, job, devJobKey, executorScript, platformPath } = this.options;
    const child = spawn(process.execPath, [executorScript, serverList(url).join(','), job, String(index)], {
      stdio: ['pipe', 'pipe', 'inherit'],
      cwd: this.options.executorCwd,
      env: platformPath ? { ...process.env, CLOISTER_SIM_PLATFORM: platformPath } : process.env,
    });
    child.stdin!.end(devJobKey ? Buffer.from(devJobKey).toString('hex') : '');
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as { start?: string; executor?: number };
      if (event.start) this.onTaskStart?.(event.start, index);
    });
    child.on('exit', (code, signal) => {
      if (this.closing || this.children.some((c) => c !== child && alive(c))) return;
      const error = new ExecutorLost(`every executor is gone (the last exited with ${signal ?? code})`);
      for (const waiter of this.waiters.values()) waiter.reject(error);
      this.waiters.clear();
    });
    return child;
  }

  private async watch(): Promise<void> {
    const entries = await this.kv.watch({ key: 'task.>' });
    void (async () => {
      for await (const entry of entries) if (entry.operation === 'PUT') this.settle(entry.key, entry.value);
    })();
    // A watcher whose server died stays silent until its consumer is remade, which can take a
    // minute while the cluster elects leaders: outcomes still pending are also read directly.
    this.poller = setInterval(() => void this.poll(), POLL_MS);
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const key of [...this.waiters.keys()]) {
        const entry = await this.kv.get(key).catch(() => null);
        if (entry?.operation === 'PUT') this.settle(key, entry.value);
      }
    } finally {
      this.polling = false;
    }
  }

  /** Resolves the waiter of `key` with its committed outcome (the first one; later reads are ignored). */
  private settle(key: string, bytes: Uint8Array): void {
    const waiter = this.waiters.get(key);
    if (!waiter) return;
    this.waiters.delete(key);
    const value = decode<{ outcome?: TaskOutcome; failure?: TaskFailure }>(bytes);
    if (value.failure) waiter.reject(new TaskFailed(value.failure));
    else waiter.resolve(value.outcome!);
  }

  async run(message: TaskMessage): Promise<TaskOutcome> {
    if (!this.children.some(alive)) throw new ExecutorLost('no executor process is running');
    const key = taskKey(message);
    const n = names(this.options.job);
    const done = new Promise<TaskOutcome>((resolve, reject) => this.waiters.set(key, { resolve, reject }));
    // The message id makes a publish repeated after a lost answer (a leader change) one message.
    const msgID = `${key}.${this.published++}`;
    await retrying(() => jetstream(this.nc).publish(n.subject, encode(message), { msgID }));
    return done;
  }

  /** Kills executor `index` as a crash would (its unacked task is redelivered to another). */
  terminate(index: number): void {
    this.children[index].kill('SIGKILL');
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.poller);
    await Promise.all(
      this.children.map((c) =>
        c.exitCode !== null || c.signalCode !== null
          ? undefined
          : new Promise((r) => (c.once('exit', r), c.kill('SIGTERM'))),
      ),
    );
    const n = names(this.options.job);
    await this.kv.destroy().catch(() => undefined);
    await this.objects.destroy().catch(() => undefined);
    await (await jetstreamManager(this.nc)).streams.delete(n.stream).catch(() => undefined);
    await this.nc.close();
  }
}
