/**
 * The host side of one `local[N]` executor thread: loads the job bundle, serves the store and input
 * files to it, and runs the tasks the pool posts. Built into the job's work directory with the bundle.
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import type { Job } from '../context.ts';
import type { ExecutorHost } from '../host-io.ts';
import type { TaskMessage, TaskOutcome } from '../messages.ts';
import { FileBlockStore } from './file-store.ts';

interface ExecutorData {
  bundle: string;
  store: string;
  jobKey: Uint8Array;
}

interface Bundle {
  job: Job;
  runTask(job: Job, jobKey: Uint8Array, host: ExecutorHost, message: TaskMessage): Promise<TaskOutcome>;
}

const data = workerData as ExecutorData;
const bundle = (await import(pathToFileURL(data.bundle).href)) as Bundle;
const host: ExecutorHost = { store: new FileBlockStore(data.store), readFile: (path) => readFile(path) };
const port = parentPort!;

port.on('message', (request: { id: number; message: TaskMessage }) => {
  bundle.runTask(bundle.job, data.jobKey, host, request.message).then(
    (outcome) => port.postMessage({ id: request.id, outcome }),
    (error: unknown) => {
      const e = error instanceof Error ? error : new Error(String(error));
      port.postMessage({ id: request.id, failure: { name: e.name, message: e.message } });
    },
  );
});
port.postMessage({ ready: true });
