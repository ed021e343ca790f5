/**
 * Starts an enclave as a `worker_threads` Worker evaluating the measured bundle: how `sim` runs an
 * enclave, and how `tdx` and `snp` do inside their confidential VM (where the VM, not the Worker, is
 * what hardware isolates).
 */
import { Worker } from 'node:worker_threads';
import type { EnclaveLaunch } from './backend.ts';

export function startWorkerEnclave(options: EnclaveLaunch): Worker {
  // Evaluating the measured source (rather than loading a file by name) means what runs is what
  // was measured, with no window to swap the file in between.
  return new Worker(options.bundleSource, {
    eval: true,
    workerData: options.start,
    resourceLimits: { maxOldGenerationSizeMb: Math.max(16, options.memoryMiB), stackSizeMb: 8 },
    stdin: false,
    stdout: false,
    stderr: false,
  });
}
