/**
 * Who answers the enclave's ring during one run. A run with host files, block devices or a network
 * is served by the host-call server thread from the start (server-worker.ts): it spins between
 * calls, so one costs about a microsecond. Any other run makes a handful of calls (its console
 * output, the clock, its exit), and booting a thread for them would cost more CPU than the whole
 * run: the launcher's own thread answers those from its event loop, and the first other call (stdin,
 * a quote), or console output beyond what a pipe holds, starts the server thread, which takes the
 * ring over from the next unanswered request.
 */
import type { Worker } from 'node:worker_threads';
import { Calls } from '../interface/calls.ts';
import { createRunServer, type ServeMessage, type ServerStart } from './run-server.ts';
import { hostServerThread } from './run-threads.ts';

/**
 * Console bytes the launcher's thread writes itself: no more than a pipe holds (64 KiB on Linux),
 * so that its writes never block, and Ctrl-C is handled while a reader is slow.
 */
const MAIN_THREAD_CONSOLE_BYTES = 32 * 1024;

export interface HostCallService {
  /** The go-ahead: requests are answered from now on. */
  serve(): void;
  /** Stops answering and ends the server thread, if one was started. */
  terminate(): Promise<void>;
}

/**
 * `onThread` is told of the server thread when it starts (its errors, its stdin requests);
 * `onFailure` when it cannot be started to take the ring over (the run cannot go on).
 */
export function startHostCalls(
  start: ServerStart,
  options: {
    onLauncherThread: boolean;
    onThread: (thread: Worker) => void;
    onFailure: (message: string) => void;
  },
): HostCallService {
  let thread: Worker | undefined;
  const startThread = (message: ServeMessage | undefined): void => {
    thread = hostServerThread();
    options.onThread(thread);
    thread.postMessage(start);
    if (message) thread.postMessage(message);
  };
  if (!options.onLauncherThread) {
    startThread(undefined);
    return {
      serve: () => thread?.postMessage({} satisfies ServeMessage),
      terminate: async () => void (await thread?.terminate()),
    };
  }
  // Until it hands over, the launcher's thread has no use for the stdin requests of a server.
  const server = createRunServer(start, () => {});
  let consoleBytes = 0;
  const accept = (callId: number, payloadLength: number): boolean => {
    if (callId === Calls.clockSync.id || callId === Calls.exit.id) return true;
    if (callId !== Calls.consoleWrite.id) return false;
    consoleBytes += payloadLength;
    return consoleBytes <= MAIN_THREAD_CONSOLE_BYTES;
  };
  let serving: Promise<void> | undefined;
  return {
    serve: () => {
      serving = server
        .serveWhile(accept)
        .then((handOver) => {
          if (handOver) startThread({ served: server.servedCounts() });
        })
        .catch((error: Error) => options.onFailure(`host-call server failed: ${error.message}`));
    },
    terminate: async () => {
      server.stop();
      server.wake();
      await serving;
      await thread?.terminate();
    },
  };
}
