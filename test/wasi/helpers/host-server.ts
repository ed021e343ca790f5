/**
 * Host directories for in-process WASI tests, served the way `cloister run` serves them: the real
 * host-call server (`src/host/host-calls.ts`) in its own thread, reached over the real ring by the
 * enclave's `RingHostDir`. Only the WASI layer runs in the test's thread instead of an enclave.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostChannel } from '../../../src/enclave/ring/channel.ts';
import { RingHostDir } from '../../../src/enclave/ring/host-services.ts';
import { createHostDirFs } from '../../../src/enclave/vfs/index.ts';
import { CachedHostDirCalls } from '../../../src/enclave/vfs/hostdir-cache.ts';
import type { FileSystem } from '../../../src/enclave/vfs/index.ts';
import { Calls } from '../../../src/interface/calls.ts';
import { createRingBuffer, viewRing } from '../../../src/interface/ring.ts';
import type { HostDirCalls } from '../../../src/interface/services.ts';
import { startTsWorker } from '../../helpers/ts-worker.ts';

export interface HostServer {
  /** The host-directory calls over the ring, as the enclave makes them. */
  calls: RingHostDir;
  /** Ends the server thread (idempotent). */
  stop(): void;
}

/** Starts the real host-call server for host directories `mounts` (mount i is `mounts[i]`). */
export function startHostServer(mounts: string[]): HostServer {
  const ring = createRingBuffer();
  const worker = startTsWorker(new URL('./host-server-worker.ts', import.meta.url), {
    workerData: { ring, mounts },
  });
  const channel = new HostChannel(viewRing(ring));
  let stopped = false;
  return {
    calls: new RingHostDir(channel),
    stop: () => {
      if (stopped) return;
      stopped = true;
      channel.post(Calls.exit, [0n, 0n]);
      void worker.terminate();
    },
  };
}

/** The file system of host directory `dir` served by a fresh real host server (through `wrap`, if given). */
export function realHostDirFs(
  dir: string,
  wrap: (calls: HostDirCalls) => HostDirCalls = (calls) => calls,
): { fs: FileSystem; stop(): void } {
  const server = startHostServer([dir]);
  return { fs: createHostDirFs(wrap(server.calls), 0), stop: server.stop };
}

/** A fresh temporary directory served by a real host server; `cleanup` stops it and removes the directory. */
export function tempHostDirFs(prefix = 'cloister-hostdir-'): {
  fs: FileSystem;
  dir: string;
  cleanup(): void;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // Cached as `cloister run` does, so the shared WASI suites run over the cache too.
  const { fs, stop } = realHostDirFs(dir, (calls) => new CachedHostDirCalls(calls));
  return {
    fs,
    dir,
    cleanup: () => {
      stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
