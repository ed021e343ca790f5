// The machine's own parallel ceiling for bench/threads.ts: runs a wasi-threads program of
// test/threads/programs.ts on plain Node workers (one per thread over one shared memory), without
// Cloister, and prints its stdout. Only the calls those programs make are provided.
//   node --no-liftoff bench/threads-node-runner.mjs PROGRAM.wasm PAGES
import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads';
import { readFileSync, writeSync } from 'node:fs';

if (isMainThread) {
  const module = new WebAssembly.Module(readFileSync(process.argv[2]));
  const pages = Number(process.argv[3]);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const start = (tid, arg) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { module, memory, tid, arg } });
    worker.on('message', (m) => {
      if (m.spawn !== undefined) start(m.tid, m.spawn);
      else process.exit(m.exit);
    });
  };
  start(0, 0);
} else {
  const { module, memory, tid, arg } = workerData;
  const spawned = new Int32Array(new SharedArrayBuffer(4));
  const fdWrite = (fd, iovs, count) => {
    const view = new DataView(memory.buffer);
    for (let i = 0; i < count; i++) {
      const base = view.getUint32(iovs + 8 * i, true);
      const length = view.getUint32(iovs + 8 * i + 4, true);
      writeSync(fd, new Uint8Array(memory.buffer).slice(base, base + length));
    }
    return 0;
  };
  let counter = tid * 1000 + 1;
  const imports = {
    env: { memory },
    wasi: {
      'thread-spawn': (a) => {
        const child = counter++;
        parentPort.postMessage({ spawn: a, tid: child });
        return child;
      },
    },
    wasi_snapshot_preview1: {
      fd_write: fdWrite,
      proc_exit: (code) => {
        parentPort.postMessage({ exit: code });
        Atomics.wait(spawned, 0, 0);
      },
    },
  };
  const instance = new WebAssembly.Instance(module, imports);
  if (tid === 0) {
    instance.exports._start();
    parentPort.postMessage({ exit: 0 });
  } else instance.exports.wasi_thread_start(tid, arg);
}
