/**
 * The console of a single-threaded program with `--net`: waiting for stdin waits in short slices
 * and pumps the network between them, so a program blocked on stdin (or polling it alone) still
 * answers its peers (handshakes, keepalives, ACKs, retransmissions). A threaded program's kernel
 * pumps the network itself (threads/kernel.ts).
 */
import type { ConsoleCalls } from '../../interface/services.ts';

/** Longest single wait on stdin before the network is pumped again (NetStack's BACKGROUND_PUMP_MS). */
export const STDIN_NET_SLICE_NS = 10_000_000n;

export interface Pumped {
  /** Pumps the network without waiting, if it is due. */
  pumpIfDue(): void;
}

export class NetPumpingConsole implements ConsoleCalls {
  constructor(
    private readonly inner: ConsoleCalls,
    private readonly net: Pumped,
  ) {}

  isTerminal(fd: 0 | 1 | 2): boolean {
    return this.inner.isTerminal?.(fd) ?? false;
  }

  write(fd: 1 | 2, data: Uint8Array): void {
    this.inner.write(fd, data);
  }

  readStdin(max: number): Uint8Array {
    while (!this.inner.pollStdin(STDIN_NET_SLICE_NS)) this.net.pumpIfDue();
    return this.inner.readStdin(max);
  }

  pollStdin(timeoutNs: bigint): boolean {
    let left = timeoutNs;
    for (;;) {
      const slice = left < STDIN_NET_SLICE_NS ? left : STDIN_NET_SLICE_NS;
      if (this.inner.pollStdin(slice > 0n ? slice : 0n)) return true;
      left -= slice;
      if (left <= 0n) return false;
      this.net.pumpIfDue();
    }
  }
}
