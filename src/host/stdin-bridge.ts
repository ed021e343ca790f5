/**
 * stdin for the host-call server thread. Node can only read a pipe or terminal without blocking
 * on the main thread's event loop, so the main thread feeds chunks into a small shared mailbox
 * on request, and the server thread waits on it with a timeout (which is what `poll_oneoff` on
 * stdin needs). Reading starts only when the program first asks for stdin.
 */
import type { MessagePort, Worker } from 'node:worker_threads';

const MAILBOX_DATA = 64 * 1024;
const HEADER_BYTES = 8;
const State = { EMPTY: 0, DATA: 1, EOF: 2 } as const;

export function createStdinMailbox(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + MAILBOX_DATA);
}

/** Server side: blocking reads and timed polls of stdin. */
export class StdinReader {
  private readonly header: Int32Array;
  private readonly data: Uint8Array;
  private pending: Uint8Array = new Uint8Array(0);
  private eof = false;
  private asked = false;

  constructor(
    mailbox: SharedArrayBuffer,
    private readonly ask: () => void,
  ) {
    this.header = new Int32Array(mailbox, 0, 2);
    this.data = new Uint8Array(mailbox, HEADER_BYTES);
  }

  /** Copies up to `out.length` bytes into `out`, waiting for some; 0 means end of file. */
  read(out: Uint8Array): number {
    while (this.pending.length === 0 && !this.eof) this.fetch(Infinity);
    const n = Math.min(out.length, this.pending.length);
    out.set(this.pending.subarray(0, n));
    this.pending = this.pending.subarray(n);
    return n;
  }

  /** True when a read would not block, waiting at most `timeoutMs`. */
  poll(timeoutMs: number): boolean {
    if (this.pending.length === 0 && !this.eof) this.fetch(timeoutMs);
    return this.pending.length > 0 || this.eof;
  }

  private fetch(timeoutMs: number): void {
    if (!this.asked) {
      this.ask();
      this.asked = true;
    }
    Atomics.wait(this.header, 0, State.EMPTY, timeoutMs);
    const state = Atomics.load(this.header, 0);
    if (state === State.EMPTY) return;
    if (state === State.EOF) {
      this.eof = true;
      return;
    }
    this.pending = this.data.slice(0, this.header[1]);
    this.asked = false;
    Atomics.store(this.header, 0, State.EMPTY);
  }
}

/** Whether a run read `process.stdin` (made on first use: a run that never reads it skips that). */
let stdinRead = false;

/** Main-thread side: answers the server's requests from `process.stdin`. */
export function feedStdin(mailbox: SharedArrayBuffer, server: Worker | MessagePort): void {
  const header = new Int32Array(mailbox, 0, 2);
  const data = new Uint8Array(mailbox, HEADER_BYTES);
  const queue: Buffer[] = [];
  let ended = false;
  let wanted = false;
  let started = false;

  const deliver = (): void => {
    if (!wanted) return;
    if (queue.length > 0) {
      const chunk = queue[0];
      const n = Math.min(chunk.length, MAILBOX_DATA);
      data.set(chunk.subarray(0, n));
      if (n === chunk.length) queue.shift();
      else queue[0] = chunk.subarray(n);
      header[1] = n;
      wanted = false;
      Atomics.store(header, 0, State.DATA);
      Atomics.notify(header, 0);
      if (queue.length < 16) process.stdin.resume();
    } else if (ended) {
      wanted = false;
      Atomics.store(header, 0, State.EOF);
      Atomics.notify(header, 0);
    }
  };

  server.on('message', (message: unknown) => {
    if ((message as { type?: string }).type !== 'stdin-want') return;
    wanted = true;
    if (!started) {
      started = true;
      stdinRead = true;
      process.stdin.on('data', (chunk: Buffer) => {
        queue.push(chunk);
        if (queue.length >= 64) process.stdin.pause();
        deliver();
      });
      process.stdin.on('end', () => {
        ended = true;
        deliver();
      });
      process.stdin.on('error', () => {
        ended = true;
        deliver();
      });
    }
    deliver();
  });
}

/** Stops reading stdin so the process can exit. */
export function releaseStdin(): void {
  if (!stdinRead) return;
  process.stdin.pause();
  process.stdin.unref?.();
}
