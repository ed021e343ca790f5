/** The program's console: output to the host's stdout and stderr, input from its stdin. */
import * as fs from 'node:fs';
import type { Calls } from '../../interface/calls.ts';
import type { StdinReader } from '../stdin-bridge.ts';
import type { AreaHandlers } from './serve.ts';

export function consoleHandlers(stdin: StdinReader): AreaHandlers<typeof Calls, 'console'> {
  return {
    consoleWrite: ({ fd, data }) => writeAll(fd === 2 ? 2 : 1, data),
    stdinRead: ({ max, timeoutNs }, out) => {
      const ready = stdin.poll(timeoutNs < 0n ? Infinity : Number(timeoutNs) / 1e6);
      return { ready, length: ready && max > 0 ? stdin.read(out.subarray(0, max)) : 0 };
    },
  };
}

/** Writes all bytes to a host fd, waiting out EAGAIN on non-blocking pipes and terminals. */
function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (done < bytes.length) {
    try {
      done += fs.writeSync(fd, bytes, done, bytes.length - done);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EAGAIN') throw error;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}
