/**
 * The job enclave's entries (trusted): bundled with the job file into one JS enclave application,
 * measured, and launched both as the job program's enclave and as every executor's. The job key
 * comes from the key broker after attestation (`settings.key.source` 'kbs': the broker's policy
 * names this enclave's MRENCLAVE) or, for local development only, from the host ('file'). What
 * leaves through host calls (host-calls.ts) is sealed blocks, names, plans and MAC'd task records.
 */
import { randomBytes } from 'node:crypto';
import { config, host, kbsResource, mrenclave } from 'cloister:enclave';
import type { Job } from './context.ts';
import { DataflowError, IntegrityError } from './errors.ts';
import { HostCall, frameBlock } from './host-calls.ts';
import type { ExecutorHost } from './host-io.ts';
import { decode, encode } from './json-bytes.ts';
import { parseKeyFile } from './keyring.ts';
import type { TaskMessage } from './messages.ts';
import type { ActionPlan } from './plan.ts';
import { runProgram, type ActionOutcome, type TaskTemplate } from './program.ts';
import { runTask } from './task.ts';

/** The measured `settings` of a job enclave. */
export interface JobEnclaveSettings {
  app: 'cloister-dataflow/v1';
  key: { source: 'kbs'; resource: string } | { source: 'file' };
}

/** What the driver asks of the job program. */
export interface ProgramParams {
  defaultParallelism: number;
  args: string[];
  memoryBytes: number;
  blockBytes: number;
}

export interface ProgramOutput {
  manifests: { path: string; bytes: Uint8Array }[];
  actions: number;
}

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);

let key: Promise<Uint8Array> | undefined;
function jobKey(): Promise<Uint8Array> {
  key ??= fetchJobKey().catch((error: unknown) => {
    key = undefined;
    throw error;
  });
  return key;
}

async function fetchJobKey(): Promise<Uint8Array> {
  const settings = config as JobEnclaveSettings;
  if (settings?.app !== 'cloister-dataflow/v1') throw new DataflowError('not a dataflow job enclave');
  const raw =
    settings.key.source === 'kbs'
      ? await kbsResource(settings.key.resource)
      : host.call(HostCall.devJobKey, EMPTY);
  try {
    return parseKeyFile(raw);
  } catch {
    throw new DataflowError(
      `the job key from the ${settings.key.source === 'kbs' ? 'key broker' : 'host'} is malformed`,
    );
  }
}

const executorHost: ExecutorHost = {
  store: {
    put: async (name, bytes) => void host.call(HostCall.blockPut, frameBlock(name, bytes)),
    get: async (name) => {
      try {
        return await host.call(HostCall.blockGet, utf8.encode(name));
      } catch (error) {
        // The task names this block, so a store without it dropped part of a set: retrying cannot help.
        if (
          error instanceof Error &&
          error.name === 'HostCallError' &&
          / is not in the store$/.test(error.message)
        )
          throw new IntegrityError(`block ${name} is missing from the store`);
        throw error;
      }
    },
    remove: async (names) => void host.call(HostCall.blockRemove, encode(names)),
  },
  readFile: async (path) => host.call(HostCall.readFile, utf8.encode(path)),
};

/** The entries the generated job entry exports, closed over the job's default export. */
export function jobEnclaveEntries(job: Job) {
  let jobId: string | undefined;
  return {
    /** Runs one task (a TaskMessage, encoded): returns its TaskOutcome, encoded. */
    async executeTask(message: Uint8Array): Promise<Uint8Array> {
      return encode(await runTask(job, await jobKey(), executorHost, decode<TaskMessage>(message)));
    },
    /** The job program picks the job id (the salt of every job key), so the host cannot reuse one. */
    newJob(): string {
      jobId ??= randomBytes(16).toString('hex');
      return jobId;
    },
    /** Runs the job file as the job program; returns the sealed manifests of its saved outputs. */
    async runJobProgram(params: Uint8Array): Promise<Uint8Array> {
      if (jobId === undefined) throw new DataflowError('runJobProgram before newJob');
      const p = decode<ProgramParams>(params);
      const result = await runProgram(job, await jobKey(), jobId, Buffer.from(mrenclave).toString('hex'), {
        defaultParallelism: p.defaultParallelism,
        args: p.args,
        memoryBytes: p.memoryBytes,
        blockBytes: p.blockBytes,
        listFiles: (pattern) => decode<string[]>(host.call(HostCall.listFiles, utf8.encode(pattern))),
        runAction: async (plan: ActionPlan, template: TaskTemplate) =>
          decode<ActionOutcome>(host.call(HostCall.runAction, encode({ plan, template }))),
      });
      const output: ProgramOutput = { manifests: result.manifests, actions: result.actions };
      return encode(output);
    },
  };
}
