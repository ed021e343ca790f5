// Starts a Worker from a TypeScript file: workers do not inherit tsx's loader, so the worker
// registers it first and then imports the file.
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function startTsWorker(file: URL, options: WorkerOptions = {}): Worker {
  const source = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(file.href)}); });`;
  return new Worker(source, { ...options, eval: true });
}
