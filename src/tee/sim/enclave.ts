/**
 * The `sim` backend: an enclave is a `worker_threads` Worker running the measured enclave bundle.
 * Like SGX's simulation mode it has the same interfaces and formats as hardware, and NO hardware
 * isolation: the host process can read and change the Worker's memory. Use it to develop and test.
 */
import { Worker } from 'node:worker_threads';
import type { EnclaveStart } from '../../interface/enclave-start.ts';
import type { JsEnclaveStart } from '../../interface/js-enclave.ts';

export const SIM_WARNING =
  'warning: sim backend: the enclave runs in a worker thread with NO hardware isolation; the host can read and change it';

export interface SimEnclaveOptions {
  /** The enclave bundle's source, exactly the bytes that were measured. */
  bundleSource: string;
  /** A WASI enclave's start, or a JavaScript enclave's (docs/js-enclave.md). */
  start: EnclaveStart | JsEnclaveStart;
  /** Limit of the enclave's own heap (its tmpfs lives there), like a fixed EPC size. */
  memoryMiB: number;
  /** V8's code cache for `bundleSource`, checked by the caller (host/enclave-code-cache.ts). */
  codeCache?: Uint8Array;
}

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

/** Starts the enclave; the Worker's 'error' and 'exit' events tell how it ended. */
export function startSimEnclave(options: SimEnclaveOptions): Worker {
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
