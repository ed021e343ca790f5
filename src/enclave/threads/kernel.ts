/**
 * The kernel of a threaded program: the enclave's main worker keeps the library OS (descriptors,
 * file systems, volumes) and runs no program code. Every program thread, the main one included,
 * runs in its own enclave worker over the one shared memory, and makes its WASI calls here through
 * its in-enclave call channel. The kernel serves them one at a time and never waits on the outside
 * world itself (`blocking.ts`); it spawns threads (at most `--threads` alive at once, each with its
 * own ring lane) and ends the program when any thread exits or traps.
 */
import { Errno } from '../../interface/errno.ts';
import { ExitKind, TRAP_STATUS } from '../../interface/exit.ts';
import { ProcExit, WASI_CALLS, type Wasi } from '../libos/index.ts';
import { WouldBlock } from './blocking.ts';
import {
  BLOCK_NS,
  CHANNEL_BYTES,
  ELAPSED_NS,
  Field,
  Op,
  ReplyKind,
  State,
  viewCallChannel,
  type CallChannel,
} from './call-channel.ts';

/** Thread ids are positive and below 2^29 (the wasi-threads proposal). */
const MAX_TID = 0x1fffffff;

/** What a thread worker starts from (the enclave entry tells it from the kernel's start). */
export interface ThreadStart {
  thread: true;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  memoryImport: { module: string; name: string };
  ring: SharedArrayBuffer;
  threadLanes: number;
  /** This thread's lane of the ring (1 .. threadLanes). */
  lane: number;
  /** 0 for the main thread, which runs `_start`; others run `wasi_thread_start(tid, startArg)`. */
  tid: number;
  startArg: number;
  channel: SharedArrayBuffer;
  doorbell: SharedArrayBuffer;
}

/** What a thread worker tells the kernel when its program code ends other than by a call. */
export type ThreadReport = { trap: string } | { failed: string };

export interface ThreadEvents {
  onReport(report: ThreadReport): void;
  onError(error: Error): void;
  onExit(): void;
}

/** Starts a thread worker over the measured enclave bundle (the enclave entry does this). */
export type StartThread = (start: ThreadStart, events: ThreadEvents) => { terminate(): Promise<unknown> };

export interface ProgramEnd {
  status: number;
  kind: number;
  message: string;
}

export interface KernelOptions {
  wasi: Wasi;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  memoryImport: { module: string; name: string };
  ring: SharedArrayBuffer;
  threadLanes: number;
  startThread: StartThread;
}

interface Thread {
  channel: CallChannel;
  worker: { terminate(): Promise<unknown> };
}

type ImportFn = (...args: unknown[]) => unknown;

export class Kernel {
  /** Live threads by ring lane. */
  private readonly threads = new Map<number, Thread>();
  private readonly doorbell = new Int32Array(new SharedArrayBuffer(4));
  private readonly calls: ImportFn[];
  private nextTid = 1;
  private end: ProgramEnd | undefined;
  /** An error of the enclave itself (the host broke the ring...): rethrown once threads are stopped. */
  private fatal: unknown;

  constructor(private readonly options: KernelOptions) {
    const imports = options.wasi.imports.wasi_snapshot_preview1;
    this.calls = WASI_CALLS.map((c) => imports[c.name]);
    options.wasi.bindMemory(options.memory);
  }

  /** Runs the program to its end; every thread worker has stopped when this returns. */
  async run(): Promise<ProgramEnd> {
    this.spawn(0, true);
    while (this.end === undefined && this.fatal === undefined) {
      const seen = Atomics.load(this.doorbell, 0);
      this.serveAll();
      if (this.end !== undefined || this.fatal !== undefined) break;
      const wait = Atomics.waitAsync(this.doorbell, 0, seen);
      if (wait.async) await wait.value;
    }
    await Promise.all([...this.threads.values()].map((t) => t.worker.terminate()));
    this.threads.clear();
    if (this.fatal !== undefined) throw this.fatal;
    return this.end as ProgramEnd;
  }

  private wake(): void {
    Atomics.add(this.doorbell, 0, 1);
    Atomics.notify(this.doorbell, 0);
  }

  private finish(end: ProgramEnd): void {
    this.end ??= end;
    this.wake();
  }

  private serveAll(): void {
    let served = true;
    while (served && this.end === undefined && this.fatal === undefined) {
      served = false;
      for (const thread of this.threads.values()) {
        if (Atomics.load(thread.channel.ints, Field.state) !== State.REQUEST) continue;
        served = true;
        this.serve(thread);
        if (this.end !== undefined || this.fatal !== undefined) return;
      }
    }
  }

  private serve(thread: Thread): void {
    const { ints, bigs } = thread.channel;
    const op = ints[Field.op];
    let result: number;
    if (op === Op.SPAWN) result = this.spawn(Number(bigs[0]) | 0);
    else if (op === Op.CALL) {
      const fn = this.calls[ints[Field.call]];
      if (fn === undefined) {
        this.finish({ status: 1, kind: ExitKind.STARTUP_ERROR, message: 'a thread made an unknown call' });
        return;
      }
      const count = Math.min(ints[Field.argCount], bigs.length);
      const mask = ints[Field.bigArgs];
      const args: unknown[] = [];
      for (let i = 0; i < count; i++) args.push(mask & (1 << i) ? bigs[i] : Number(bigs[i]));
      this.options.wasi.setCallElapsed(bigs[ELAPSED_NS]);
      try {
        result = Number(fn(...args) ?? 0);
      } catch (error) {
        if (error instanceof WouldBlock) {
          ints[Field.replyKind] = ReplyKind.BLOCK;
          ints[Field.blockKind] = error.kind;
          bigs[BLOCK_NS] = error.ns;
          this.reply(ints);
        } else if (error instanceof ProcExit) {
          this.finish({ status: error.code, kind: ExitKind.PROGRAM, message: '' });
        } else {
          this.fatal = error;
          this.wake();
        }
        return;
      } finally {
        this.options.wasi.setCallElapsed(0n);
      }
    } else {
      this.finish({ status: 1, kind: ExitKind.STARTUP_ERROR, message: `a thread sent operation ${op}` });
      return;
    }
    ints[Field.replyKind] = ReplyKind.DONE;
    ints[Field.result] = result;
    this.reply(ints);
  }

  private reply(ints: Int32Array): void {
    Atomics.store(ints, Field.state, State.REPLY);
    Atomics.notify(ints, Field.state);
  }

  /**
   * Starts a thread (the main one runs `_start`, with id 0, which the program never sees); returns
   * its id, or a negative errno when no more threads may run.
   */
  private spawn(startArg: number, main = false): number {
    const tid = main ? 0 : this.nextTid;
    let lane = 0;
    for (let l = 1; l <= this.options.threadLanes; l++) {
      if (!this.threads.has(l)) {
        lane = l;
        break;
      }
    }
    if (lane === 0 || tid > MAX_TID) return -Errno.AGAIN;
    if (!main) this.nextTid++;
    const buffer = new SharedArrayBuffer(CHANNEL_BYTES);
    const { options } = this;
    const start: ThreadStart = {
      thread: true,
      module: options.module,
      memory: options.memory,
      memoryImport: { module: options.memoryImport.module, name: options.memoryImport.name },
      ring: options.ring,
      threadLanes: options.threadLanes,
      lane,
      tid,
      startArg,
      channel: buffer,
      doorbell: this.doorbell.buffer as SharedArrayBuffer,
    };
    const channel = viewCallChannel(buffer);
    const worker = options.startThread(start, {
      onReport: (report) =>
        this.finish(
          'trap' in report
            ? { status: TRAP_STATUS, kind: ExitKind.TRAP, message: report.trap }
            : { status: 1, kind: ExitKind.STARTUP_ERROR, message: report.failed },
        ),
      onError: (error) =>
        this.finish({
          status: 1,
          kind: ExitKind.STARTUP_ERROR,
          message: `enclave thread failed: ${error.message}`,
        }),
      onExit: () => {
        if (this.threads.get(lane)?.channel === channel) this.threads.delete(lane);
        if (main) {
          this.finish({
            status: 1,
            kind: ExitKind.STARTUP_ERROR,
            message: 'the main thread ended without exiting',
          });
        }
      },
    });
    this.threads.set(lane, { channel, worker });
    return tid;
  }
}
