/**
 * A program thread's worker: instantiates the measured module over the shared memory, with WASI
 * imports that forward each call to the kernel through the thread's call channel, and runs
 * `_start` (the main thread) or `wasi_thread_start(tid, arg)`. `memory.atomic.wait`/`notify`
 * between threads are plain wasm instructions on the shared memory: they never leave the enclave
 * and never reach the host. The thread makes host calls itself only to wait for stdin, on its own
 * ring lane, so the kernel and the other threads go on meanwhile. Calls of other import modules
 * (the socket module) go to the kernel the same way; a wait on the network is a wait on the
 * kernel's network signal.
 */
import { viewRing } from '../../interface/ring.ts';
import { WASI_CALLS } from '../libos/index.ts';
import { describeTrap } from '../loader/wasm-module.ts';
import { THREAD_SPAWN } from '../loader/threads-module.ts';
import { HostChannel } from '../ring/channel.ts';
import { RingConsole } from '../ring/host-services.ts';
import { BlockKind, FOREVER } from './blocking.ts';
import {
  BLOCK_NS,
  ELAPSED_NS,
  Field,
  MAX_ARGS,
  Op,
  ReplyKind,
  State,
  viewCallChannel,
  type CallChannel,
} from './call-channel.ts';
import type { ThreadReport, ThreadStart } from './kernel.ts';

/**
 * Longest single stdin wait on the host. The host serves the ring with one thread, so a long poll
 * there would hold up the other threads' host calls; slices keep that delay short.
 */
const STDIN_SLICE_NS = 10_000_000n;
/** Spins on the kernel's reply before parking: a kernel call takes microseconds. */
const SPINS = 2_000;

class KernelLink {
  private readonly sleepCell = new Int32Array(new SharedArrayBuffer(4));
  private readonly netSignal: Int32Array;
  private readonly console: RingConsole;

  constructor(
    private readonly channel: CallChannel,
    private readonly doorbell: Int32Array,
    start: ThreadStart,
  ) {
    this.netSignal = new Int32Array(start.netSignal);
    const ring = viewRing(start.ring, start.threadLanes);
    this.console = new RingConsole(new HostChannel(ring, ring.lanes[start.lane]), ring.clock);
  }

  /** Makes one request and waits for the reply, waiting and retrying as the kernel asks. */
  request(op: number, call: number, args: readonly unknown[]): number {
    const { ints, bigs } = this.channel;
    const began = performance.now();
    for (;;) {
      ints[Field.op] = op;
      ints[Field.call] = call;
      const count = Math.min(args.length, MAX_ARGS);
      let mask = 0;
      for (let i = 0; i < count; i++) {
        const a = args[i];
        if (typeof a === 'bigint') {
          bigs[i] = a;
          mask |= 1 << i;
        } else bigs[i] = BigInt((a as number) | 0);
      }
      ints[Field.argCount] = count;
      ints[Field.bigArgs] = mask;
      bigs[ELAPSED_NS] = BigInt(Math.round((performance.now() - began) * 1e6));
      Atomics.store(ints, Field.state, State.REQUEST);
      Atomics.add(this.doorbell, 0, 1);
      Atomics.notify(this.doorbell, 0);
      this.awaitReply(ints);
      Atomics.store(ints, Field.state, State.IDLE);
      if (ints[Field.replyKind] === ReplyKind.DONE) return ints[Field.result];
      this.wait(ints[Field.blockKind], bigs[BLOCK_NS], ints[Field.netSignal]);
    }
  }

  private awaitReply(ints: Int32Array): void {
    for (let i = 0; i < SPINS; i++) if (Atomics.load(ints, Field.state) === State.REPLY) return;
    while (Atomics.load(ints, Field.state) !== State.REPLY) Atomics.wait(ints, Field.state, State.REQUEST);
  }

  /**
   * The wait the kernel handed back: a sleep, until the network moves on from `netSignal` (the
   * kernel pumps it meanwhile), or until stdin is readable (or `ns` passed).
   */
  private wait(kind: number, ns: bigint, netSignal: number): void {
    if (kind === BlockKind.SLEEP) {
      Atomics.wait(this.sleepCell, 0, 0, Number(ns) / 1e6);
      return;
    }
    if (kind === BlockKind.NET) {
      const { ints } = this.channel;
      Atomics.store(ints, Field.state, State.NET_WAIT);
      Atomics.wait(this.netSignal, 0, netSignal, Number(ns) / 1e6);
      Atomics.store(ints, Field.state, State.IDLE);
      return;
    }
    const until = ns === FOREVER ? Infinity : performance.now() + Number(ns) / 1e6;
    for (;;) {
      const left = until - performance.now();
      if (left <= 0) return;
      const slice = BigInt(Math.ceil(Math.min(left * 1e6, Number(STDIN_SLICE_NS))));
      if (this.console.pollStdin(slice)) return;
    }
  }
}

function isTrap(error: unknown): boolean {
  return (
    error instanceof WebAssembly.RuntimeError ||
    (error instanceof RangeError && error.message.includes('call stack'))
  );
}

/** Runs one program thread; tells the kernel through `report` if its code ends by a trap. */
export function runThread(start: ThreadStart, report: (r: ThreadReport) => void): void {
  const link = new KernelLink(viewCallChannel(start.channel), new Int32Array(start.doorbell), start);
  const wasi: Record<string, (...args: unknown[]) => unknown> = {};
  for (const [index, call] of WASI_CALLS.entries()) {
    wasi[call.name] = (...args: unknown[]) => link.request(Op.CALL, index, args);
  }
  const imports: Record<string, Record<string, unknown>> = { wasi_snapshot_preview1: wasi };
  for (const [i, { module, name }] of start.moduleCalls.entries()) {
    const index = WASI_CALLS.length + i;
    (imports[module] ??= {})[name] = (...args: unknown[]) => link.request(Op.CALL, index, args);
  }
  (imports[THREAD_SPAWN.module] ??= {})[THREAD_SPAWN.name] = (arg: number) =>
    link.request(Op.SPAWN, 0, [arg]);
  (imports[start.memoryImport.module] ??= {})[start.memoryImport.name] = start.memory;
  const exitIndex = WASI_CALLS.findIndex((c) => c.name === 'proc_exit');
  try {
    const instance = new WebAssembly.Instance(start.module, imports as WebAssembly.Imports);
    if (start.tid === 0) {
      (instance.exports._start as () => void)();
      // Returning from _start is proc_exit(0); the kernel ends the program and stops this worker.
      link.request(Op.CALL, exitIndex, [0]);
    } else {
      (instance.exports.wasi_thread_start as (tid: number, arg: number) => void)(start.tid, start.startArg);
    }
  } catch (error) {
    if (isTrap(error)) report({ trap: describeTrap(error as Error) });
    else report({ failed: error instanceof Error ? error.message : String(error) });
  }
}
