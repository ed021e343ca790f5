/**
 * The enclave's entry point: the first code that runs inside the enclave Worker. It receives the
 * measured image (program and run configuration) and the host-call ring, builds the library OS
 * (mount table, WASI), runs the program, and ends the enclave with the `exit` host call.
 * Nothing here trusts the host: it talks to it only through `ring/`.
 *
 * A wasi-threads program runs differently (threads/kernel.ts): this worker becomes its kernel and
 * each program thread runs in an enclave worker of its own, started here from the measured bundle;
 * the same entry then runs `runThread` in that worker.
 */
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { Calls } from '../interface/calls.ts';
import { ExitKind, TRAP_STATUS } from '../interface/exit.ts';
import { viewRing } from '../interface/ring.ts';
import type { EnclaveStart } from '../interface/enclave-start.ts';
import { progressWriter } from '../interface/progress-page.ts';
import { threadLimit, type RunConfig } from '../interface/run-config.ts';
import { measureEnclave } from '../tee/measurement.ts';
import { ProcExit, Wasi } from './libos/index.ts';
import {
  WASM_PAGE,
  capMemory,
  checkCommand,
  checkHeader,
  checkImports,
  describeTrap,
} from './loader/wasm-module.ts';
import { THREAD_SPAWN, isThreaded, prepareThreaded } from './loader/threads-module.ts';
import { KernelConsole, sleepInThread, waitNetworkInThread } from './threads/blocking.ts';
import { Kernel, type StartThread, type ThreadReport, type ThreadStart } from './threads/kernel.ts';
import { runThread } from './threads/thread.ts';
import { HostChannel, HostProtocolError } from './ring/channel.ts';
import { hostCall } from './ring/stubs.ts';
import { RingClock, RingConsole } from './ring/host-services.ts';
import { buildNamespace, type Namespace } from './filesystems.ts';
import { HostDirWriteError } from './vfs/hostdir-cache.ts';
import { Platform } from './attest/platform-client.ts';
import { ProvisioningError, brokerCounters, provisionFromKbs } from './kbs/provision.ts';
import { DiskError } from './storage/disks.ts';
import ext2fsWasm from '../common/ext4/ext2fs.wasm';
import lwipWasm from './net/lwip.wasm';
import { startNetwork, type Network } from './net/network.ts';
import { SOCKET_MODULE, socketCalls } from './net/socket-calls.ts';
import { announceGeneratedKey } from './net/key-evidence.ts';
import { NetPumpingConsole } from './net/net-console.ts';

async function run(start: EnclaveStart): Promise<void> {
  const config = JSON.parse(start.config) as RunConfig;
  const ring = viewRing(start.ring, threadLimit(config));
  const channel = new HostChannel(ring);
  let closeDisks = (): void => {};
  let flushNetwork = (): void => {};
  const exit = (status: number, kind: number, message = ''): void => {
    // What the program sent last (a reply before it exits) leaves before the enclave ends.
    const flush = flushNetwork;
    flushNetwork = () => {};
    flush();
    try {
      closeDisks();
    } catch (error) {
      // A failed final commit, or a failed write the program was never told of, must not pass for success.
      if (kind === ExitKind.PROGRAM) {
        kind = ExitKind.STARTUP_ERROR;
        status = 1;
        message =
          error instanceof HostDirWriteError
            ? error.message
            : `could not commit the volumes: ${(error as Error).message}`;
      }
    }
    channel.drain();
    hostCall(channel, Calls.exit, { status, kind, message });
  };
  try {
    const console = new RingConsole(channel, ring.clock);
    const clock = new RingClock(channel, ring.clock);
    const platform = new Platform(start.platform, channel);
    let namespace: Namespace;
    try {
      const secrets = { ...start.secrets };
      const { kbs } = config;
      if (kbs?.resource !== undefined)
        secrets.rootKey = await provisionFromKbs({ ...kbs, resource: kbs.resource }, channel, platform);
      namespace = buildNamespace({
        config,
        secrets,
        channel,
        console,
        clock,
        mrenclave: start.mrenclave,
        platform,
        ext2fsWasm,
        // Volumes' rollback protection: their generations recorded with the broker whose key is pinned.
        generations: kbs?.brokerKey ? brokerCounters(kbs, channel, platform) : undefined,
        kdfProgress: start.progress && progressWriter(start.progress),
      });
    } catch (error) {
      if (!(error instanceof DiskError || error instanceof ProvisioningError)) throw error;
      exit(1, ExitKind.STARTUP_ERROR, error.message);
      return;
    }
    closeDisks = namespace.close;
    const { preopens } = namespace;
    const wasm = namespace.program ?? start.wasm;
    const maxPages = Math.floor((config.memoryMiB * 1024 * 1024) / WASM_PAGE);

    let module: WebAssembly.Module;
    let threads: ReturnType<typeof prepareThreaded> | undefined;
    try {
      checkHeader(wasm);
      if (isThreaded(wasm)) {
        module = await compileThreaded(wasm);
        threads = prepareThreaded(module, wasm, maxPages);
      } else module = new WebAssembly.Module(capMemory(wasm, maxPages));
      checkCommand(module, threads !== undefined);
    } catch (error) {
      exit(1, ExitKind.STARTUP_ERROR, startupMessage(error));
      return;
    }
    let network: Network | undefined;
    try {
      if (config.net) {
        network = startNetwork({
          config: config.net,
          secrets: start.secrets.net,
          channel,
          clock,
          lwip: lwipWasm,
        });
        if (config.net.generateKey) announceGeneratedKey(network.publicKey, platform, console);
        const { net } = network;
        // A threaded program's kernel owns the stack: waits go back to the calling thread.
        if (threads) net.handWaitsBack(waitNetworkInThread);
        flushNetwork = () => net.flush();
      }
    } catch (error) {
      exit(1, ExitKind.STARTUP_ERROR, `network: ${(error as Error).message}`);
      return;
    }
    const wasi = new Wasi({
      args: config.args,
      env: config.env,
      preopens,
      sockets: network?.listeners,
      modules: { [SOCKET_MODULE]: socketCalls(network?.net) },
      // A threaded program's kernel never waits itself: its threads do (threads/blocking.ts).
      // With a network, a wait for stdin pumps it (a threaded program's kernel pumps it anyway).
      console: threads
        ? new KernelConsole(console)
        : network
          ? new NetPumpingConsole(console, network.net)
          : console,
      clock,
      // With a network, sleeping and every other call keep it moving (NetStack.pumpIfDue).
      sleep: threads ? sleepInThread : network ? (ns) => network.net.sleep(ns) : undefined,
      beforeCall: network ? () => network.net.pumpIfDue() : undefined,
    });
    if (threads) {
      const { status, kind, message } = await runThreaded(start, config, module, threads, wasi, network);
      exit(status, kind, message);
      return;
    }

    let instance: WebAssembly.Instance;
    try {
      checkImports(module, wasi.imports);
      instance = new WebAssembly.Instance(module, wasi.imports);
    } catch (error) {
      exit(1, ExitKind.STARTUP_ERROR, startupMessage(error));
      return;
    }

    let status: number;
    try {
      status = wasi.start(instance);
    } catch (error) {
      if (error instanceof ProcExit) status = error.code;
      else if (error instanceof WebAssembly.RuntimeError || isStackOverflow(error)) {
        // Cut off inside a call, the library OS may be in the middle of an update: its volumes
        // are not committed and keep their last commit, as after a crash.
        if (wasi.cutInCall) closeDisks = () => {};
        exit(TRAP_STATUS, ExitKind.TRAP, describeTrap(error as Error));
        return;
      } else throw error;
    }
    exit(status, ExitKind.PROGRAM);
  } catch (error) {
    if (error instanceof HostProtocolError) {
      // The ring itself is not to be trusted any more: try once to say why; the enclave stops
      // below whether or not the host takes the message.
      try {
        exit(1, ExitKind.HOST_VIOLATION, `enclave stopped: ${error.message}`);
      } catch {
        // Nothing more can be said through a broken ring.
      }
    }
    throw error;
  }
}

/**
 * Compiles a threaded program with V8's optimizing compiler only. Node 20's baseline compiler
 * (Liftoff) loses a local that holds a call's result across `memory.atomic.wait32` (test:
 * test/threads/liftoff-wait.test.ts), which breaks the wasi-threads tests. V8 flags are
 * per-process and V8 caches compiled modules by their bytes, so the flag is set before the first
 * compile of these bytes, and left set: thread workers compile code of their own later (turning
 * it back at once let the bug through now and then). A `cloister run` is one program per process.
 */
async function compileThreaded(wasm: Uint8Array<ArrayBuffer>): Promise<WebAssembly.Module> {
  // Only to work around that V8 bug, and only here: loading node:v8 would cost every start ~1.5 ms.
  // eslint-disable-next-line no-restricted-syntax
  const { setFlagsFromString } = await import('node:v8');
  setFlagsFromString('--no-liftoff');
  return new WebAssembly.Module(wasm);
}

/** Runs a wasi-threads program with this worker as its kernel; see threads/kernel.ts. */
async function runThreaded(
  start: EnclaveStart,
  config: RunConfig,
  module: WebAssembly.Module,
  threads: ReturnType<typeof prepareThreaded>,
  wasi: Wasi,
  network: Network | undefined,
): Promise<{ status: number; kind: number; message: string }> {
  const { memory, memoryImport } = threads;
  try {
    const provided: Record<string, Record<string, unknown>> = {};
    for (const [name, functions] of Object.entries(wasi.imports)) provided[name] = { ...functions };
    (provided[THREAD_SPAWN.module] ??= {})[THREAD_SPAWN.name] = () => 0;
    (provided[memoryImport.module] ??= {})[memoryImport.name] = memory;
    checkImports(module, provided);
  } catch (error) {
    return { status: 1, kind: ExitKind.STARTUP_ERROR, message: startupMessage(error) };
  }
  // Thread workers run the bundle the host handed over: only if it is the one measured.
  const encoder = new TextEncoder();
  const measured = measureEnclave({
    bundle: encoder.encode(start.bundle),
    wasm: start.wasm,
    config: encoder.encode(start.config),
  });
  if (measured.length !== start.mrenclave.length || measured.some((b, i) => b !== start.mrenclave[i])) {
    return {
      status: 1,
      kind: ExitKind.STARTUP_ERROR,
      message: 'the enclave bundle for threads is not the measured one',
    };
  }
  const startThread: StartThread = (data, events) => {
    const worker = new Worker(start.bundle, {
      eval: true,
      workerData: data,
      resourceLimits: { maxOldGenerationSizeMb: 64, stackSizeMb: 8 },
      stdin: false,
      stdout: false,
      stderr: false,
    });
    worker.on('message', (report: ThreadReport) => events.onReport(report));
    worker.on('error', (error) => events.onError(error));
    worker.on('exit', () => events.onExit());
    return worker;
  };
  const kernel = new Kernel({
    wasi,
    module,
    memory,
    memoryImport,
    ring: start.ring,
    threadLanes: threadLimit(config),
    startThread,
    network: network?.net,
  });
  try {
    return await kernel.run();
  } finally {
    wasi.closeAll();
  }
}

/** A program recursing without end overflows V8's stack: a trap, not a runtime bug. */
function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && error.message.includes('call stack');
}

function startupMessage(error: unknown): string {
  if (error instanceof WebAssembly.CompileError) return `not a valid WebAssembly module: ${error.message}`;
  if (error instanceof WebAssembly.LinkError) return `cannot link the program: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

const data = workerData as EnclaveStart | ThreadStart;
if ('thread' in data) runThread(data, (report) => parentPort?.postMessage(report));
else void run(data);
