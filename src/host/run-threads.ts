/**
 * The two threads of a run: the host-call server and the enclave Worker. Booting a Worker costs
 * tens of milliseconds before it runs any of its code, so `cloister run` starts them at its very top
 * (`prestartRunThreads`), before it loads the rest of the CLI or reads its options; the launcher
 * then hands them the run. Nothing of the run is decided by then: the server learns its ring and
 * mounts from its first message, and the enclave Worker runs only the bundle source the launcher
 * measured (src/tee/worker-enclave.ts); a run that does not launch leaves them to end with the process.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import {
  adoptPrestartedEnclave,
  discardPrestartedEnclave,
  handOverPrestartedEnclave,
  prestartWorkerEnclave,
  prestartedEnclaveBundle,
  type PrestartedEnclave,
} from '../tee/worker-enclave.ts';
import { readEnclaveCodeCache } from './enclave-code-cache.ts';
import { distFile } from './package-files.ts';

/** The enclave bundle's source as it will run (and be measured), read from dist/. */
export function readEnclaveBundle(): string {
  return readFileSync(distFile('enclave.js'), 'utf8');
}

/** A host-call server thread started ahead of its run. */
export interface PrestartedServer {
  worker: Worker;
  ended: boolean;
}

let prestartedServer: PrestartedServer | undefined;

function newServerThread(): Worker {
  return new Worker(distFile('host-server.cjs'));
}

/**
 * Starts an enclave Worker with the bundle in dist/ and this memory limit, and the server thread
 * when `server` (a run with host files or devices: other runs may not need it, host-call-service.ts).
 */
export function prestartRunThreads(memoryMiB: number, server: boolean): void {
  if (server) {
    const worker = newServerThread();
    const entry: PrestartedServer = { worker, ended: false };
    const ended = (): void => {
      entry.ended = true;
    };
    worker.on('error', ended).on('exit', ended).unref();
    prestartedServer = entry;
  }
  prestartWorkerEnclave(memoryMiB, () => {
    const bundleSource = readEnclaveBundle();
    // Set by the build only, to record the code cache of a run (scripts/write-cli-code-cache.ts).
    const recordCacheTo = process.env.CLOISTER_RECORD_ENCLAVE_CODE_CACHE || undefined;
    return { bundleSource, codeCache: readEnclaveCodeCache(bundleSource), recordCacheTo };
  });
}

/** The threads `prestartRunThreads` started, as one copy of this module hands them to another. */
export interface PrestartedThreads {
  enclave?: PrestartedEnclave;
  server?: PrestartedServer;
}

/**
 * Hands the prestarted threads over to another copy of this module (`adoptRunThreads`): `cli.cjs`
 * starts them, the run bundle, which has its own copy, runs them.
 */
export function handOverRunThreads(): PrestartedThreads {
  const server = prestartedServer;
  prestartedServer = undefined;
  return { enclave: handOverPrestartedEnclave(), server };
}

/** Takes over the threads another copy of this module prestarted. */
export function adoptRunThreads(threads: PrestartedThreads): void {
  discardRunThreads();
  prestartedServer = threads.server;
  adoptPrestartedEnclave(threads.enclave);
}

/**
 * The bundle source for this run: the one the prestarted enclave holds (read once, at start),
 * else read now.
 */
export function runBundleSource(): string {
  return prestartedEnclaveBundle() ?? readEnclaveBundle();
}

/** A host-call server thread waiting for its `ServerStart`: the prestarted one if it is alive. */
export function hostServerThread(): Worker {
  const entry = prestartedServer;
  prestartedServer = undefined;
  if (entry === undefined || entry.ended) return newServerThread();
  entry.worker.removeAllListeners('error').removeAllListeners('exit').ref();
  return entry.worker;
}

/** Ends the prestarted threads a run did not take. */
export function discardRunThreads(): void {
  const entry = prestartedServer;
  prestartedServer = undefined;
  if (entry) void entry.worker.terminate();
  discardPrestartedEnclave();
}
