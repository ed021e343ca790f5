/**
 * Starts an enclave as a `worker_threads` Worker evaluating the measured bundle: how `sim` runs an
 * enclave, and how `tdx` and `snp` do inside their confidential VM (where the VM, not the Worker, is
 * what hardware isolates).
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

export function startWorkerEnclave(options: EnclaveLaunch): Worker {
  // Evaluating the measured source (rather than loading a file by name) means what runs is what
  // was measured, with no window to swap the file in between.
  const { bundleSource, codeCache, start } = options;
  return new Worker(codeCache ? CODE_CACHE_LOADER : bundleSource, {
    eval: true,
    workerData: codeCache ? { source: bundleSource, cache: codeCache, start } : start,
    resourceLimits: { maxOldGenerationSizeMb: Math.max(16, options.memoryMiB), stackSizeMb: 8 },
    stdin: false,
    stdout: false,
    stderr: false,
  });
}
