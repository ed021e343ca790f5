/**
 * Waits that the kernel hands back to the calling thread. The kernel serves every thread's WASI
 * calls, so it must never wait itself: a call that would (a read from an empty stdin, a
 * `poll_oneoff` sleep, a socket call waiting on the network) throws `WouldBlock`, the calling
 * thread waits on its own (on its own ring lane for stdin, on a private `Atomics.wait` for a
 * sleep, on the kernel's network signal for the network, which the kernel pumps meanwhile), then
 * makes the call again. A call hands its wait back only before it has done anything the retry
 * would repeat (a write that has sent bytes returns their count instead).
 */
import type { ConsoleCalls } from '../../interface/services.ts';
import type { Sleeper } from '../libos/index.ts';

export const BlockKind = { SLEEP: 1, STDIN: 2, NET: 3 } as const;

/** No limit: wait until stdin is readable. */
export const FOREVER = -1n;

export class WouldBlock extends Error {
  override name = 'WouldBlock';
  constructor(
    readonly kind: number,
    /** How long to wait at most, ns, or `FOREVER`. */
    readonly ns: bigint,
  ) {
    super('the call would block');
  }
}

/** Hands a wait on the network of `ms` milliseconds back to the calling thread. */
export function waitNetworkInThread(ms: number): never {
  throw new WouldBlock(BlockKind.NET, BigInt(Math.max(1, Math.ceil(ms * 1e6))));
}

export const sleepInThread: Sleeper = (ns) => {
  if (ns > 0n) throw new WouldBlock(BlockKind.SLEEP, ns);
};

/** The kernel's console: output as usual; stdin only when it is readable now. */
export class KernelConsole implements ConsoleCalls {
  constructor(private readonly inner: ConsoleCalls) {}

  isTerminal(fd: 0 | 1 | 2): boolean {
    return this.inner.isTerminal?.(fd) ?? false;
  }

  write(fd: 1 | 2, data: Uint8Array): void {
    this.inner.write(fd, data);
  }

  readStdin(max: number): Uint8Array {
    if (!this.inner.pollStdin(0n)) throw new WouldBlock(BlockKind.STDIN, FOREVER);
    return this.inner.readStdin(max);
  }

  pollStdin(timeoutNs: bigint): boolean {
    if (this.inner.pollStdin(0n)) return true;
    if (timeoutNs <= 0n) return false;
    throw new WouldBlock(BlockKind.STDIN, timeoutNs);
  }
}
