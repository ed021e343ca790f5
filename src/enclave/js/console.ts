/**
 * The application's `console`: lines go to the host as posted `console_write` ring calls (as a
 * WASI program's stdout and stderr do), not through the Worker's own stdio, which is host I/O.
 */
import { Calls } from '../../interface/calls.ts';
import { SLOT_DATA_BYTES } from '../../interface/ring.ts';
import type { HostChannel } from '../ring/channel.ts';
import { postHostCall } from '../ring/stubs.ts';

const utf8 = new TextEncoder();

function format(args: unknown[]): string {
  return args
    .map((a) => {
      if (typeof a === 'string') return a;
      if (a instanceof Error) return `${a.name}: ${a.message}`;
      try {
        return JSON.stringify(a, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) ?? String(a);
      } catch {
        return String(a);
      }
    })
    .join(' ');
}

export function enclaveConsole(channel: HostChannel, isStopped: () => boolean): Console {
  const write =
    (stream: 1 | 2) =>
    (...args: unknown[]) => {
      if (isStopped()) return;
      const bytes = utf8.encode(`${format(args)}\n`);
      for (let at = 0; at < bytes.length; at += SLOT_DATA_BYTES) {
        postHostCall(channel, Calls.consoleWrite, {
          fd: stream,
          data: bytes.subarray(at, at + SLOT_DATA_BYTES),
        });
      }
    };
  const out = write(1);
  const err = write(2);
  return Object.freeze({
    log: out,
    info: out,
    debug: out,
    warn: err,
    error: err,
    trace: err,
  }) as unknown as Console;
}
