/**
 * The kernel of a threaded program: the enclave's main worker keeps the library OS (descriptors,
 * file systems, volumes) and runs no program code. Every program thread, the main one included,
 * runs in its own enclave worker over the one shared memory, and makes its WASI calls here through
 * its in-enclave call channel. The kernel serves them one at a time and never waits on the outside
 * world itself (`blocking.ts`); it spawns threads (at most `--threads` alive at once, each with its
 * own ring lane) and ends the program when any thread exits or traps.
 *
 * With `--net` the kernel is also the one owner of the network stack (lwIP is never entered by two
 * threads): socket calls run here like any call, a call that would wait on the network hands the
 * wait back to its thread (`BlockKind.NET`), and while threads wait the kernel pumps the network
 * between calls, waking them through the network signal when something arrived: with a wait on
 * the host when every thread waits on the network, else without waiting, every `NET_POLL_MS`.
 * When no thread waits on it, the kernel still pumps it every `NET_IDLE_PUMP_MS`, so handshakes,
 * keepalives and ACKs are answered while the program computes without calls or waits on stdin.
 */
import { Errno } from '../../interface/errno.ts';
import { ExitKind, TRAP_STATUS } from '../../interface/exit.ts';
import { ProcExit, WASI_CALLS, type Wasi } from '../libos/index.ts';
import { BlockKind, WouldBlock } from './blocking.ts';
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
/**
 * While every thread waits on the network, the kernel waits for datagrams on the host (no call can
 * come meanwhile), at most this long and never past the first thread's own wait.
 */
const NET_OWNER_WAIT_MS = 250;
/**
 * While some thread waits on the network and another runs, the kernel must stay free for calls: it
 * does not wait on the host but looks for datagrams this often.
 */
const NET_POLL_MS = 1;
/** With no thread waiting on it, how often the kernel pumps the network (NetStack's BACKGROUND_PUMP_MS). */
const NET_IDLE_PUMP_MS = 10;

/** A network the kernel owns and drives (the enclave's NetStack). */
export interface KernelNetwork {
  /** One step: sends what is queued, takes what arrives (waiting at most `waitMs`), runs timers. */
  step(waitMs: number): void;
  /** Changes whenever something a waiting call looks at may have changed (datagrams in, events). */
  readonly progress: number;
}

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
  /** Calls of import modules other than preview1 (the socket module), numbered after WASI_CALLS. */
  moduleCalls: { module: string; name: string }[];
  /** Bumped by the kernel when the network moved: threads waiting on it wait on this. */
  netSignal: SharedArrayBuffer;
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
  network?: KernelNetwork;
}

interface Thread {
  channel: CallChannel;
  worker: { terminate(): Promise<unknown> };
  /** When (monotonic ms) the network wait last handed to this thread ends. */
  netWaitEnd: number;
}

type ImportFn = (...args: unknown[]) => unknown;

export class Kernel {
  /** Live threads by ring lane. */
  private readonly threads = new Map<number, Thread>();
  private readonly doorbell = new Int32Array(new SharedArrayBuffer(4));
  private readonly calls: ImportFn[];
  private readonly moduleCalls: { module: string; name: string }[] = [];
  private readonly netSignal = new Int32Array(new SharedArrayBuffer(4));
  private netProgress = 0;
  /** Until when (monotonic ms) some thread is waiting on the network. */
  private netWaitUntil = 0;
  private nextTid = 1;
  private end: ProgramEnd | undefined;
  /** An error of the enclave itself (the host broke the ring...): rethrown once threads are stopped. */
  private fatal: unknown;

  constructor(private readonly options: KernelOptions) {
    const imports = options.wasi.imports.wasi_snapshot_preview1;
    this.calls = WASI_CALLS.map((c) => imports[c.name]);
    for (const [module, functions] of Object.entries(options.wasi.imports)) {
      if (module === 'wasi_snapshot_preview1') continue;
      for (const [name, fn] of Object.entries(functions)) {
        this.moduleCalls.push({ module, name });
        this.calls.push(fn);
      }
    }
    options.wasi.bindMemory(options.memory);
  }

  /** Runs the program to its end; every thread worker has stopped when this returns. */
  async run(): Promise<ProgramEnd> {
    this.spawn(0, true);
    const { network } = this.options;
    let lastPump = performance.now();
    while (this.end === undefined && this.fatal === undefined) {
      const seen = Atomics.load(this.doorbell, 0);
      this.serveAll();
      if (this.end !== undefined || this.fatal !== undefined) break;
      if (!network) {
        const wait = Atomics.waitAsync(this.doorbell, 0, seen);
        if (wait.async) await wait.value;
        continue;
      }
      this.signalNetwork();
      const allWait = this.allWaitingOnNetwork();
      if (allWait !== undefined) {
        // No thread can call now: wait for datagrams on the host until the first thread's wait ends.
        if (Atomics.load(this.doorbell, 0) === seen) this.stepNetwork(Math.min(allWait, NET_OWNER_WAIT_MS));
        lastPump = performance.now();
        // Let the worker's own events (a thread's exit) in.
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      // Some thread runs: the kernel stays free for its calls and looks for datagrams now and then.
      const every = performance.now() < this.netWaitUntil ? NET_POLL_MS : NET_IDLE_PUMP_MS;
      const wait = Atomics.waitAsync(
        this.doorbell,
        0,
        seen,
        Math.max(0, lastPump + every - performance.now()),
      );
      if (wait.async) await wait.value;
      if (performance.now() - lastPump >= every) {
        this.stepNetwork(0);
        lastPump = performance.now();
      }
    }
    await Promise.all([...this.threads.values()].map((t) => t.worker.terminate()));
    this.threads.clear();
    if (this.fatal !== undefined) throw this.fatal;
    return this.end as ProgramEnd;
  }

  /** When every live thread waits on the network: how long until the first of their waits ends (ms). */
  private allWaitingOnNetwork(): number | undefined {
    let first = Infinity;
    for (const thread of this.threads.values()) {
      if (Atomics.load(thread.channel.ints, Field.state) !== State.NET_WAIT) return undefined;
      first = Math.min(first, thread.netWaitEnd);
    }
    return this.threads.size > 0 ? Math.max(0, first - performance.now()) : undefined;
  }

  /** One network step by the kernel; a failure of the enclave itself ends the run like a call's. */
  private stepNetwork(waitMs: number): void {
    try {
      this.options.network?.step(waitMs);
    } catch (error) {
      this.fatal = error;
      this.wake();
    }
    this.signalNetwork();
  }

  /** Wakes threads waiting on the network when it moved. */
  private signalNetwork(): void {
    const progress = this.options.network?.progress;
    if (progress === undefined || progress === this.netProgress) return;
    this.netProgress = progress;
    Atomics.add(this.netSignal, 0, 1);
    Atomics.notify(this.netSignal, 0);
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
          if (error.kind === BlockKind.NET) {
            // The signal as it was when the call began: if the call itself moved the network (its
            // step took datagrams), publishing that ends the thread's wait at once, and the retry
            // looks again; else the wait lasts until the network moves on.
            ints[Field.netSignal] = Atomics.load(this.netSignal, 0);
            this.signalNetwork();
            thread.netWaitEnd = performance.now() + Number(error.ns) / 1e6;
            this.netWaitUntil = Math.max(this.netWaitUntil, thread.netWaitEnd);
          }
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
      moduleCalls: this.moduleCalls,
      netSignal: this.netSignal.buffer as SharedArrayBuffer,
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
    this.threads.set(lane, { channel, worker, netWaitEnd: 0 });
    return tid;
  }
}
