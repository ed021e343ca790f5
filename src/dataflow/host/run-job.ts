/**
 * `cloister job run`: bundle the job file, start the executors the master names, and run the job
 * program against the scheduler; write each saved output's sealed manifest beside its part files.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Job } from '../context.ts';
import { DataflowError } from '../errors.ts';
import { MANIFEST_FILE } from '../manifest.ts';
import type { ProgramHost, ProgramResult } from '../program.ts';
import { buildJob } from './bundle.ts';
import { FileBlockStore } from './file-store.ts';
import { listSealedFiles } from './list-files.ts';
import { LocalExecutorPool } from './local-pool.ts';
import { NatsExecutorPool } from './nats/nats-pool.ts';
import type { BlockStore } from '../host-io.ts';
import { Scheduler, type SchedulerOptions, type SchedulerStats } from './scheduler.ts';

export type Master = { kind: 'local'; executors: number } | { kind: 'nats'; url: string };

export function parseMaster(master: string): Master {
  const local = /^local\[(\d+)\]$/.exec(master);
  if (local) {
    const executors = Number(local[1]);
    if (executors < 1 || executors > 256)
      throw new DataflowError(`local[N] needs 1 <= N <= 256, not ${executors}`);
    return { kind: 'local', executors };
  }
  if (/^nats:\/\/[^/\s]+$/.test(master)) return { kind: 'nats', url: master };
  throw new DataflowError(`--master is local[N] or nats://host:port, not ${JSON.stringify(master)}`);
}

export interface RunJobOptions {
  readonly jobFile: string;
  readonly master: string;
  readonly jobKey: Uint8Array;
  readonly args?: readonly string[];
  /** Per-task memory bound before spilling, bytes. */
  readonly memoryBytes?: number;
  /** Target size of a sealed block's plaintext, bytes. */
  readonly blockBytes?: number;
  readonly rewriteTask?: SchedulerOptions['rewriteTask'];
  /** The unencrypted baseline bundle (bench/dataflow.ts only): reads and writes plaintext blocks. */
  readonly plaintext?: boolean;
  readonly onPool?: (pool: LocalExecutorPool | NatsExecutorPool) => void;
  /** Executors to start for a nats:// master (default 2). */
  readonly executors?: number;
  /** nats://: how long a task may go silent before JetStream redelivers it. */
  readonly ackWaitMs?: number;
}

export interface JobRun {
  readonly jobId: string;
  readonly bundleDigest: string;
  readonly outputs: string[];
  readonly actions: number;
  readonly stats: SchedulerStats;
}

interface Bundle {
  job: Job;
  runProgram(
    job: Job,
    jobKey: Uint8Array,
    jobId: string,
    bundle: string,
    host: ProgramHost,
  ): Promise<ProgramResult>;
}

export async function runJob(options: RunJobOptions): Promise<JobRun> {
  const master = parseMaster(options.master);
  const executors = master.kind === 'local' ? master.executors : (options.executors ?? 2);
  const work = mkdtempSync(join(tmpdir(), 'cloister-job-'));
  let pool: LocalExecutorPool | NatsExecutorPool | undefined;
  try {
    const built = await buildJob(options.jobFile, work, options.plaintext);
    const jobId = randomBytes(16).toString('hex');
    let store: BlockStore;
    if (master.kind === 'local') {
      const storeDir = join(work, 'store');
      pool = await LocalExecutorPool.start(executors, {
        script: built.executorScript,
        bundle: built.bundle,
        store: storeDir,
        jobKey: options.jobKey,
      });
      store = new FileBlockStore(storeDir);
    } else {
      pool = await NatsExecutorPool.start({
        url: master.url,
        job: jobId,
        executors,
        executorScript: built.natsExecutorScript,
        bundle: built.bundle,
        jobKey: options.jobKey,
        ackWaitMs: options.ackWaitMs,
      });
      store = pool.store();
    }
    options.onPool?.(pool);
    const scheduler = new Scheduler(pool, store, { rewriteTask: options.rewriteTask });
    const bundle = (await import(pathToFileURL(built.bundle).href)) as Bundle;
    const result = await bundle.runProgram(bundle.job, options.jobKey, jobId, built.digest, {
      defaultParallelism: executors,
      args: options.args ?? [],
      memoryBytes: options.memoryBytes ?? 64 * 1024 * 1024,
      blockBytes: options.blockBytes ?? 1024 * 1024,
      listFiles: (pattern) => listSealedFiles(pattern),
      runAction: (plan, template) => scheduler.runAction(plan, template),
    });
    for (const m of result.manifests) writeFileSync(join(m.path, MANIFEST_FILE), m.bytes);
    return {
      jobId,
      bundleDigest: built.digest,
      outputs: result.manifests.map((m) => m.path),
      actions: result.actions,
      stats: scheduler.stats,
    };
  } finally {
    await pool?.close();
    rmSync(work, { recursive: true, force: true });
  }
}
