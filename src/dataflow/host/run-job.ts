/**
 * `cloister job run` (the untrusted driver): bundle the job file into its JS enclave application,
 * launch the job program in one job enclave and the executors in others (`local[N]`: N enclaves in
 * this process; `nats://`: processes each hosting one, reading the sealed inputs the driver puts into
 * the job's object store), schedule the program's actions on them and
 * write each saved output's sealed manifest beside its part files. The driver handles only sealed
 * blocks, names, plans and MAC'd task records; with a key broker it never holds the job key.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { JsEnclaveError, type JsEnclave } from '../../host/js-enclave.ts';
import { packageRoot } from '../../host/package-files.ts';
import type { ProgramOutput, ProgramParams } from '../enclave-app.ts';
import { DataflowError } from '../errors.ts';
import { HostCall } from '../host-calls.ts';
import type { BlockStore } from '../host-io.ts';
import { decode, encode } from '../json-bytes.ts';
import { MANIFEST_FILE } from '../manifest.ts';
import type { ActionPlan } from '../plan.ts';
import type { TaskTemplate } from '../program.ts';
import { buildJobEnclave, type KeySource } from './bundle.ts';
import { TaskFailed } from './executor-pool.ts';
import { FileBlockStore } from './file-store.ts';
import { launchJobEnclave } from './launch-job-enclave.ts';
import { listSealedFiles } from './list-files.ts';
import { LocalExecutorPool } from './local-pool.ts';
import { buildNatsExecutor } from './nats/build-executor.ts';
import { InputPublisher } from './nats/inputs.ts';
import { NatsExecutorPool } from './nats/nats-pool.ts';
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
  /** The key broker the job enclaves fetch the job key from, after attestation. */
  readonly kbs?: { readonly url: string; readonly resource: string };
  /** Local development only (when no `kbs`): the host hands this key into the enclaves. */
  readonly jobKey?: Uint8Array;
  readonly args?: readonly string[];
  /** Per-task memory bound before spilling, bytes. */
  readonly memoryBytes?: number;
  /** Target size of a sealed block's plaintext, bytes. */
  readonly blockBytes?: number;
  readonly rewriteTask?: SchedulerOptions['rewriteTask'];
  /** The unencrypted baseline bundle (bench/dataflow.ts only): reads and writes plaintext blocks. */
  readonly plaintext?: boolean;
  readonly onPool?: (pool: LocalExecutorPool | NatsExecutorPool) => void;
  /** Called with the job enclave's MRENCLAVE (hex) before anything runs. */
  readonly onMeasured?: (mrenclave: string) => void;
  /** Executors to start for a nats:// master (default 2). */
  readonly executors?: number;
  /** nats://: how long a task may go silent before JetStream redelivers it. */
  readonly ackWaitMs?: number;
  /** nats://: copies of the job's stream, KV bucket and object store (a JetStream cluster: 3). */
  readonly replicas?: number;
  /** The sim platform file of the enclaves (default: launchJsEnclave's). */
  readonly platformPath?: string;
  /** The directory of the local block store (default: a temporary one, removed at the end). */
  readonly storeDir?: string;
}

export interface JobRun {
  readonly jobId: string;
  /** MRENCLAVE of the job enclave, hex: what the key broker's policy names and the manifest records. */
  readonly mrenclave: string;
  readonly outputs: string[];
  readonly actions: number;
  readonly stats: SchedulerStats;
}

export function keySourceOf(options: Pick<RunJobOptions, 'kbs' | 'jobKey'>): KeySource {
  if (options.kbs) return { source: 'kbs', ...options.kbs };
  if (options.jobKey) return { source: 'file' };
  throw new DataflowError(
    'a job needs a key broker (--kbs URL --resource PATH) or, for development, --key-file',
  );
}

function emptyDir(path: string): string {
  mkdirSync(path);
  return path;
}

/** An error from inside a job enclave, under the name it had there. */
function fromEnclave(error: unknown, hostError: Error | undefined): Error {
  if (error instanceof JsEnclaveError && error.code === 'threw') {
    // The program's run-action host call failed because the scheduler did: report the scheduler's error.
    if (hostError && error.errorName === 'HostCallError') return hostError;
    return new TaskFailed({ name: error.errorName ?? 'Error', message: error.message });
  }
  return error as Error;
}

export async function runJob(options: RunJobOptions): Promise<JobRun> {
  const master = parseMaster(options.master);
  const executors = master.kind === 'local' ? master.executors : (options.executors ?? 2);
  const key = keySourceOf(options);
  const devJobKey = key.source === 'file' ? options.jobKey : undefined;
  const work = mkdtempSync(join(tmpdir(), 'cloister-job-'));
  let pool: LocalExecutorPool | NatsExecutorPool | undefined;
  let program: JsEnclave | undefined;
  let natsScript: string | undefined;
  try {
    const built = await buildJobEnclave(options.jobFile, key, options.plaintext);
    options.onMeasured?.(built.mrenclave);
    const host = { devJobKey, platformPath: options.platformPath };
    program = await launchJobEnclave(built, host);
    const jobId = (await program.call('newJob', [])) as string;
    if (!/^[0-9a-f]{32}$/.test(jobId)) throw new DataflowError('the job enclave returned a bad job id');
    let store: BlockStore;
    let inputs: InputPublisher | undefined;
    if (master.kind === 'local') {
      store = new FileBlockStore(options.storeDir ?? join(work, 'store'));
      pool = await LocalExecutorPool.start(executors, built, { ...host, store });
    } else {
      natsScript = await buildNatsExecutor(packageRoot());
      pool = await NatsExecutorPool.start({
        url: master.url,
        job: jobId,
        executors,
        executorScript: natsScript,
        enclave: built,
        devJobKey,
        platformPath: options.platformPath,
        ackWaitMs: options.ackWaitMs,
        replicas: options.replicas,
        // Executors could be on other machines: they start where none of the driver's paths exist.
        executorCwd: emptyDir(join(work, 'executors')),
      });
      store = pool.store();
      inputs = new InputPublisher(store);
    }
    options.onPool?.(pool);
    const scheduler = new Scheduler(pool, store, { rewriteTask: options.rewriteTask });
    let hostError: Error | undefined;
    program.onHostCall(HostCall.listFiles, async (pattern) => {
      const files = listSealedFiles(new TextDecoder().decode(pattern));
      await inputs?.publish(files);
      return encode(files);
    });
    program.onHostCall(HostCall.runAction, async (data) => {
      const { plan, template } = decode<{ plan: ActionPlan; template: TaskTemplate }>(data);
      try {
        return encode(await scheduler.runAction(plan, template));
      } catch (error) {
        hostError = error as Error;
        throw error;
      }
    });
    const params: ProgramParams = {
      defaultParallelism: executors,
      args: [...(options.args ?? [])],
      memoryBytes: options.memoryBytes ?? 64 * 1024 * 1024,
      blockBytes: options.blockBytes ?? 1024 * 1024,
    };
    let result: ProgramOutput;
    try {
      result = decode<ProgramOutput>((await program.call('runJobProgram', [encode(params)])) as Uint8Array);
    } catch (error) {
      throw fromEnclave(error, hostError);
    }
    for (const m of result.manifests) writeFileSync(join(m.path, MANIFEST_FILE), m.bytes);
    return {
      jobId,
      mrenclave: built.mrenclave,
      outputs: result.manifests.map((m) => m.path),
      actions: result.actions,
      stats: scheduler.stats,
    };
  } finally {
    await pool?.close();
    await program?.close();
    if (natsScript) rmSync(natsScript, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
}
