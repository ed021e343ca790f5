/** The enclave's life: its end (`exit`) and the host page it reads the date and terminals from. */
import { isatty } from 'node:tty';
import type { Calls } from '../../interface/calls.ts';
import { HostPage } from '../../interface/ring.ts';
import type { AreaHandlers } from './serve.ts';

export interface ProcessConfig {
  /** Called by the `exit` call with (status, kind, message). */
  onExit: (status: number, kind: number, message: string) => void;
  /** The ring's clock page. */
  clockPage: BigInt64Array;
  /** Releases what the enclave held on the host (its open files and directories). */
  release: () => void;
}

export function processHandlers(config: ProcessConfig): AreaHandlers<typeof Calls, 'process' | 'clock'> {
  return {
    exit: ({ status, kind, message }) => {
      config.onExit(status, kind, message);
      // The enclave is gone: its files and directories close with it, also in a long-lived launcher.
      config.release();
    },
    clockSync: ({ monotonicNs }) => {
      const wallNs = BigInt(Date.now()) * 1_000_000n;
      Atomics.store(config.clockPage, HostPage.clockOffset, wallNs - monotonicNs);
      const terminals = [0, 1, 2].reduce((bits, fd) => bits | (isatty(fd) ? 1 << fd : 0), 0);
      Atomics.store(config.clockPage, HostPage.terminals, BigInt(terminals));
    },
  };
}
