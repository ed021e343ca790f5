/**
 * Starts an enclave as a `worker_threads` Worker evaluating the measured bundle: how `sim` runs an
 * enclave, and how `tdx` and `snp` do inside their confidential VM (where the VM, not the Worker, is
 * what hardware isolates).
 *
 * A Worker takes tens of milliseconds to boot Node before it runs anything, so the CLI may start one
 * at its very top (`prestartWorkerEnclave`), while it loads and plans the run; the launch then hands
 * it its start record. The prestarted Worker holds the bundle source read at that time, and is taken
 * only for a launch of exactly that source (the string the launcher measured) and memory limit.
 * (The loaders below are not measured, like the Worker's own bootstrap: they only compile and run
 * the measured source.)
 */
import { Worker } from 'node:worker_threads';
import type { EnclaveLaunch } from './backend.ts';

/** The enclave bundle's script name, in stack traces and in its V8 code cache. */
export const ENCLAVE_SCRIPT_NAME = 'enclave.js';

/**
 * Runs the bundle with its code cache: compiles exactly the measured source with V8's cached
 * data (V8 rejects data made for other source, version or flags, and then compiles as usual) and
 * runs it as the Worker would have, with the enclave's start as its `workerData`.
 */
const CODE_CACHE_LOADER = `'use strict';
const threads = require('node:worker_threads');
const { source, cache, start } = threads.workerData;
threads.workerData = start;
new (require('node:vm').Script)(source, { filename: '${ENCLAVE_SCRIPT_NAME}', cachedData: cache }).runInThisContext();
`;

/**
 * A prestarted enclave Worker. It boots before the launcher has read the bundle, so its first
 * message brings the bundle source and its code cache (checked by the launcher against the source:
 * src/host/enclave-code-cache.ts); it compiles the source with it while the launcher is still busy,
 * and runs it once the second message, the start record, arrives (without the bundle, which is
 * this same source: the loader puts it back). When the first message names a `recordCacheTo`
 * file (only the build does: scripts/write-cli-code-cache.ts), it writes V8's cached data there
 * as the Worker ends, by then holding every function the run compiled, not only the top level.
 */
const PRESTART_LOADER = `'use strict';
const threads = require('node:worker_threads');
let script;
let source;
const onMessage = (message) => {
  if (script === undefined) {
    const { cache, recordCacheTo } = message;
    source = message.source;
    if (typeof recordCacheTo === 'string')
      process.on('exit', () => require('node:fs').writeFileSync(recordCacheTo, script.createCachedData()));
    script = new (require('node:vm').Script)(source, { filename: '${ENCLAVE_SCRIPT_NAME}', cachedData: cache });
    return;
  }
  threads.parentPort.off('message', onMessage);
  if (message.bundle === undefined) message.bundle = source;
  threads.workerData = message;
  script.runInThisContext();
};
threads.parentPort.on('message', onMessage);
`;

const workerOptions = (memoryMiB: number) =>
  ({
    eval: true,
    resourceLimits: { maxOldGenerationSizeMb: Math.max(16, memoryMiB), stackSizeMb: 8 },
    stdin: false,
    stdout: false,
    stderr: false,
  }) as const;

/** An enclave Worker started ahead of its launch (see `prestartWorkerEnclave`). */
export interface PrestartedEnclave {
  worker: Worker;
  bundleSource: string;
  memoryMiB: number;
  /** It ended (or failed) before a launch took it. */
  ended: boolean;
}

let prestarted: PrestartedEnclave | undefined;

/** What a prestarted enclave compiles: the bundle source and its checked code cache, if any. */
export interface PrestartBundle {
  bundleSource: string;
  /** V8's cached data, checked against `bundleSource` (src/host/enclave-code-cache.ts). */
  codeCache?: Uint8Array;
  /** A file to write V8's cached data for the bundle to as the Worker ends (the build's). */
  recordCacheTo?: string;
}

/**
 * Boots an enclave Worker with this memory limit, then calls `readBundle` while it boots and hands
 * it the bundle and its code cache; it waits (without keeping the process alive) for the start
 * record that `startWorkerEnclave` sends. One at a time. When `readBundle` throws, the Worker is
 * ended and the error passed on.
 */
export function prestartWorkerEnclave(memoryMiB: number, readBundle: () => PrestartBundle): void {
  discardPrestartedEnclave();
  // Started before the files are read: Node's boot of the Worker (tens of ms) overlaps the reads.
  const worker = new Worker(PRESTART_LOADER, workerOptions(memoryMiB));
  let bundle: PrestartBundle;
  try {
    bundle = readBundle();
  } catch (error) {
    void worker.terminate();
    throw error;
  }
  const { bundleSource, codeCache, recordCacheTo } = bundle;
  worker.postMessage({ source: bundleSource, cache: codeCache, recordCacheTo });
  const entry: PrestartedEnclave = { worker, bundleSource, memoryMiB, ended: false };
  const ended = (): void => {
    entry.ended = true;
  };
  // Until a launch takes it: its failure only means it is not used.
  worker.on('error', ended).on('exit', ended).unref();
  prestarted = entry;
}

/**
 * Hands the prestarted enclave over to another copy of this module (`adoptPrestartedEnclave`):
 * `cli.cjs` starts it, the run bundle, which has its own copy, launches it.
 */
export function handOverPrestartedEnclave(): PrestartedEnclave | undefined {
  const entry = prestarted;
  prestarted = undefined;
  return entry;
}

/** Takes over an enclave prestarted by another copy of this module. */
export function adoptPrestartedEnclave(entry: PrestartedEnclave | undefined): void {
  discardPrestartedEnclave();
  prestarted = entry;
}

/** The bundle source the prestarted enclave holds, if one waits. */
export function prestartedEnclaveBundle(): string | undefined {
  return prestarted?.bundleSource;
}

/** Whether a launch of `bundleSource` with this memory limit will take the prestarted Worker. */
export function hasPrestartedEnclave(bundleSource: string, memoryMiB: number): boolean {
  const entry = prestarted;
  return entry !== undefined && matches(entry, bundleSource, memoryMiB);
}

const matches = (entry: PrestartedEnclave, bundleSource: string, memoryMiB: number): boolean =>
  !entry.ended && entry.bundleSource === bundleSource && entry.memoryMiB === memoryMiB;

/** Ends the prestarted enclave, if one waits (a run that does not launch it). */
export function discardPrestartedEnclave(): void {
  const entry = prestarted;
  prestarted = undefined;
  if (entry) void entry.worker.terminate();
}

/** The prestarted Worker if it runs exactly this launch's measured source with its memory limit. */
function takePrestarted(options: EnclaveLaunch): Worker | undefined {
  const entry = prestarted;
  if (entry === undefined) return undefined;
  if (!matches(entry, options.bundleSource, options.memoryMiB)) {
    discardPrestartedEnclave();
    return undefined;
  }
  prestarted = undefined;
  entry.worker.removeAllListeners('error').removeAllListeners('exit').ref();
  return entry.worker;
}

export function startWorkerEnclave(options: EnclaveLaunch): Worker {
  // Evaluating the measured source (rather than loading a file by name) means what runs is what
  // was measured, with no window to swap the file in between.
  const { bundleSource, codeCache, start } = options;
  const ready = takePrestarted(options);
  if (ready) {
    // It compiled the source already. It holds that source, the measured one: a start record
    // naming the same bundle goes without it (900 KB less to copy on the way to the first
    // instruction), and the loader puts its own back.
    ready.postMessage(
      'bundle' in start && start.bundle === bundleSource ? { ...start, bundle: undefined } : start,
    );
    return ready;
  }
  return new Worker(codeCache ? CODE_CACHE_LOADER : bundleSource, {
    ...workerOptions(options.memoryMiB),
    workerData: codeCache ? { source: bundleSource, cache: codeCache, start } : start,
  });
}
