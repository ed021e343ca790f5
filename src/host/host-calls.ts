/**
 * What the host does for each call of `src/interface/calls.ts`: the handlers of each area
 * (`calls/`), put together into the one record the call table asks for — a call the record lacks
 * does not compile — and served by `calls/serve.ts`.
 */
import { Calls } from '../interface/calls.ts';
import { attestationHandlers } from './calls/attestation.ts';
import { blockHandlers, type BlockDeviceFile } from './calls/block.ts';
import { consoleHandlers } from './calls/console.ts';
import { hostDirs } from './calls/dir.ts';
import { networkHandlers } from './calls/network.ts';
import { processHandlers } from './calls/process.ts';
import { serveCalls, type HostHandlers } from './calls/serve.ts';
import type { Request, Response } from './ring-server.ts';
import type { StdinReader } from './stdin-bridge.ts';

export type { BlockDeviceFile } from './calls/block.ts';

export interface HostCallConfig {
  /** Host directory of each `--dir` mount, by mount index. */
  mounts: readonly string[];
  blockDevices: readonly BlockDeviceFile[];
  stdin: StdinReader;
  /** Called by the `exit` call with (status, kind, message). */
  onExit: (status: number, kind: number, message: string) => void;
  /** Where the clock page lives. */
  clockPage: BigInt64Array;
  /** The quoting enclave's mailbox (served by the platform in the launching process). */
  qeMailbox: SharedArrayBuffer;
  /** The network relay's mailbox (served by the launching process). */
  netMailbox: SharedArrayBuffer;
  /** The `--net` UDP socket's mailbox (net-datagrams.ts), when the run has a network. */
  datagramMailbox?: SharedArrayBuffer;
}

/** Builds the handler that serves one enclave's calls. */
export function createHostCalls(config: HostCallConfig): (request: Request) => Response {
  const dirs = hostDirs(config.mounts);
  const handlers: HostHandlers<typeof Calls> = {
    ...processHandlers({ onExit: config.onExit, clockPage: config.clockPage, release: dirs.closeAll }),
    ...consoleHandlers(config.stdin),
    ...blockHandlers(config.blockDevices),
    ...attestationHandlers(config.qeMailbox),
    ...networkHandlers(config.netMailbox, config.datagramMailbox),
    ...dirs.handlers,
  };
  return serveCalls(Calls, handlers);
}
