/**
 * JavaScript enclaves, host side: launch one from an application bundle (or its entry file), call
 * its entries synchronously or asynchronously, and answer its calls to the host
 * (docs/js-enclave.md). The one module the partitioner and the dataflow executors use:
 *
 *   const enclave = await launchJsEnclave({ appEntry: 'job.ts', config: { settings: { job: 'wc' } } });
 *   enclave.onHostCall('read-block', (id) => store.get(id));
 *   const n = enclave.callSync('count', ['a b c']);       // blocks this thread until the enclave answers
 *   const r = await enclave.call('mapPartition', [rows]);   // the same, without blocking
 *   await enclave.close();
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { canonicalJson } from '../interface/jcs.ts';
import { CodecError, decodeValue, encodeValue } from '../interface/js-enclave-codec.ts';
import {
  CALL_SPIN_WINDOWS,
  CallStatus,
  ChannelField,
  ChannelState,
  PendingWork,
  START_SEQ,
  createCallChannel,
  normalizeJsConfig,
  viewCallChannel,
  type ChannelView,
  type JsEnclaveConfig,
} from '../interface/js-enclave.ts';
import { createMailbox } from '../interface/mailbox.ts';
import { Control, createRingBuffer, viewRing, type RingView } from '../interface/ring.ts';
import { AdaptiveSpin } from '../interface/spin.ts';
import { measureJsEnclave } from '../tee/measurement.ts';
import { backendByName } from '../tee/backends.ts';
import { bundleJsApp } from './js-enclave-bundle.ts';
import type { PlatformThreadStart } from './js-enclave-platform.ts';
import { JsRingServer, type HostHandler } from './js-enclave-ring.ts';
import { distFile } from './package-files.ts';
import type { ReplyWriter } from './ring-server.ts';

export { bundleJsApp, BundleError } from './js-enclave-bundle.ts';
export type { HostHandler } from './js-enclave-ring.ts';
export type { JsEnclaveConfig } from '../interface/js-enclave.ts';

/** The enclave could not be started, refused a call, stopped, or its entry threw. */
export class JsEnclaveError extends Error {
  override name = 'JsEnclaveError';
  constructor(
    message: string,
    /** `refused`, `threw` (then `errorName` is the enclave error's name), `stopped`, `load`, `closed`, `timeout`. */
    readonly code: string,
    readonly errorName?: string,
  ) {
    super(message);
  }
}

export interface LaunchJsEnclaveOptions {
  /** The application bundle's source (from `bundleJsApp`), or... */
  appBundle?: string;
  /** ...the application's entry file, bundled here. */
  appEntry?: string;
  /** The measured configuration; defaults fill what is left out. */
  config?: Partial<JsEnclaveConfig>;
  /** The sim platform file (default: `$CLOISTER_SIM_PLATFORM` or `~/.cloister/sim-platform.json`). */
  platformPath?: string;
  /** The TEE backend by name (src/tee/backends.ts; default `sim`). */
  backend?: string;
  /** Host handlers by name (more can be added with `onHostCall`). */
  hostHandlers?: Record<string, HostHandler>;
  /** Where the app's console lines go (default: this process's stdout and stderr). */
  onConsole?: (stream: 1 | 2, text: string) => void;
  /** How long `callSync` waits before it gives up on the enclave (default 120 s). */
  syncTimeoutMs?: number;
  /** Tests of the enclave's defences rewrite the host's ring replies here. */
  ringReplyWriter?: ReplyWriter;
}

const PARK_MS = 100;
/** How long a process about to exit waits for an enclave to confirm it has no timers pending. */
const LAST_LOOK_MS = 1000;

/** Enclaves not yet closed: each gets a last look before the process exits (`JsEnclave.lastLook`). */
const liveEnclaves = new Set<JsEnclave>();
process.on('beforeExit', () => {
  for (const enclave of liveEnclaves) enclave.lastLook();
});

/** The JS-enclave runtime's source as it will run (and be measured). */
export function readJsEnclaveRuntime(): string {
  return readFileSync(distFile('js-enclave.js'), 'utf8');
}

/** MRENCLAVE of an application bundle with a configuration, under the current runtime. */
export function measureJsApp(
  appBundle: string,
  config: Partial<JsEnclaveConfig> = {},
  runtime = readJsEnclaveRuntime(),
): Uint8Array {
  const utf8 = new TextEncoder();
  return measureJsEnclave({
    runtime: utf8.encode(runtime),
    app: utf8.encode(appBundle),
    config: utf8.encode(canonicalJson(normalizeJsConfig(config))),
  });
}

export async function launchJsEnclave(options: LaunchJsEnclaveOptions): Promise<JsEnclave> {
  let appBundle = options.appBundle;
  if (appBundle === undefined) {
    if (options.appEntry === undefined) throw new TypeError('launchJsEnclave needs appBundle or appEntry');
    appBundle = await bundleJsApp(options.appEntry);
  }
  const config = normalizeJsConfig(options.config);
  const configJson = canonicalJson(config);
  const runtime = readJsEnclaveRuntime();
  const app = new TextEncoder().encode(appBundle);
  const mrenclave = measureJsEnclave({
    runtime: new TextEncoder().encode(runtime),
    app,
    config: new TextEncoder().encode(configJson),
  });

  const backend = backendByName(options.backend ?? 'sim');
  const ring = createRingBuffer();
  const channel = createCallChannel(config.maxMessageBytes);
  const platformMailbox = createMailbox();
  const qeMailbox = createMailbox();
  const netMailbox = createMailbox();
  const platformStart: PlatformThreadStart = {
    backend: backend.name,
    path: options.platformPath,
    mrenclave,
    platformMailbox,
    qeMailbox,
    netMailbox,
    kbsOrigin: config.kbs && new URL(config.kbs.url).origin,
  };
  const platformThread = new Worker(distFile('js-enclave-platform.js'), { workerData: platformStart });
  try {
    await new Promise<void>((resolve, reject) => {
      platformThread.once('message', () => resolve());
      platformThread.once('error', (e) =>
        reject(new JsEnclaveError(`the ${backend.name} platform failed: ${e.message}`, 'load')),
      );
    });
  } catch (error) {
    await platformThread.terminate();
    throw error;
  }
  const worker = backend.launch({
    bundleSource: runtime,
    memoryMiB: config.memoryMiB,
    start: { app, config: configJson, mrenclave, ring, channel, platform: platformMailbox },
  });
  const enclave = new JsEnclave({
    worker,
    platformThread,
    mrenclave,
    ring: viewRing(ring),
    view: viewCallChannel(channel, config.maxMessageBytes),
    qeMailbox,
    netMailbox,
    options,
    hostVisibleMemory: [ring, channel, platformMailbox, qeMailbox, netMailbox],
  });
  for (const [name, handler] of Object.entries(options.hostHandlers ?? {})) enclave.onHostCall(name, handler);
  try {
    enclave.entries = (await enclave.collect(START_SEQ, false)) as string[];
  } catch (error) {
    await enclave.close();
    throw error;
  }
  return enclave;
}

interface JsEnclaveParts {
  worker: Worker;
  platformThread: Worker;
  mrenclave: Uint8Array;
  ring: RingView;
  view: ChannelView;
  qeMailbox: SharedArrayBuffer;
  netMailbox: SharedArrayBuffer;
  options: LaunchJsEnclaveOptions;
  hostVisibleMemory: SharedArrayBuffer[];
}

/** A running JavaScript enclave. One call runs at a time; `call`s queue, `callSync` waits its turn. */
export class JsEnclave {
  readonly mrenclave: Uint8Array;
  /** The entries the enclave accepts calls to. */
  entries: string[] = [];
  /** Everything the host shares with the enclave (ring, call channel, mailboxes), for audits. */
  readonly hostVisibleMemory: SharedArrayBuffer[];
  private readonly handlers = new Map<string, HostHandler>();
  private readonly server: JsRingServer;
  private seq = START_SEQ;
  private queue: Promise<unknown> = Promise.resolve();
  private asyncInFlight:
    { seq: number; resolve: (v: unknown) => void; reject: (e: unknown) => void } | undefined;
  private ended: string | undefined;
  private readonly spin = new AdaptiveSpin(CALL_SPIN_WINDOWS.host);
  /** The enclave last said its app has timers pending: the pump serves its ring while the host is idle. */
  private enclaveBusy = false;
  /** The pump (the event-loop waiter that serves the ring and collects async replies) runs. */
  private pumping = false;
  /** The pump is parked with `hostParked` set: a `callSync` in between leaves the flag set. */
  private pumpParked = false;
  /** A waiter on `pendingWork` is registered: it starts the pump when the enclave gets busy. */
  private watching = false;
  /** The enclave's Worker keeps the process alive (only while a call is in flight or the enclave is busy). */
  private referenced = true;

  constructor(private readonly parts: JsEnclaveParts) {
    this.mrenclave = parts.mrenclave;
    this.hostVisibleMemory = parts.hostVisibleMemory;
    // The platform thread serves the enclave; it never keeps the process alive by itself.
    parts.platformThread.unref();
    liveEnclaves.add(this);
    this.server = new JsRingServer({
      ring: parts.ring,
      handlers: this.handlers,
      qeMailbox: parts.qeMailbox,
      netMailbox: parts.netMailbox,
      maxMessageBytes: parts.view.maxMessageBytes,
      onConsole:
        parts.options.onConsole ??
        ((stream, text) => (stream === 2 ? process.stderr : process.stdout).write(text)),
      replyWriter: parts.options.ringReplyWriter,
    });
    parts.worker.on('error', (e: Error & { code?: string }) => {
      this.ended ??=
        e.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? 'the enclave ran out of memory'
          : `the enclave failed: ${e.message}`;
      this.failInFlight();
    });
    parts.worker.on('exit', () => {
      this.ended ??= 'the enclave exited';
      liveEnclaves.delete(this);
      this.failInFlight();
    });
    parts.platformThread.on('exit', () => {
      this.ended ??= 'the sim platform thread ended';
      this.failInFlight();
    });
  }

  /** Registers the host function the enclave reaches with `host.call(name, bytes)`. */
  onHostCall(name: string, handler: HostHandler): () => void {
    this.handlers.set(name, handler);
    return () => {
      if (this.handlers.get(name) === handler) this.handlers.delete(name);
    };
  }

  /** Calls entry `name` and waits for its result without blocking this thread. */
  call(name: string, args: readonly unknown[] = []): Promise<unknown> {
    const run = this.queue.then(() => {
      const [seq, woke] = this.send(name, args);
      return this.collect(seq, woke);
    });
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * The reply to `seq` (an async call, or the start), collected by the pump on the event loop,
   * unless a `callSync` collects it first. The Worker keeps the process alive meanwhile.
   */
  collect(seq: number, woke: boolean): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.asyncInFlight = { seq, resolve, reject };
      this.keepAlive();
      void this.pump(woke);
    });
  }

  /**
   * Calls entry `name` and blocks this thread until the enclave answers, serving the enclave's
   * host calls meanwhile (their handlers must then be synchronous).
   */
  callSync(name: string, args: readonly unknown[] = []): unknown {
    // The enclave waits in a host call (this is its handler, or an async handler is pending):
    // the call runs nested inside it.
    if (this.server.serving) return this.callNested(name, args);
    if (this.asyncInFlight) {
      // One call at a time: finish the asynchronous call first, and hand its result on.
      const { seq } = this.asyncInFlight;
      try {
        this.settle(seq, this.waitSync(seq, ChannelState.REPLY, false), undefined);
      } catch (error) {
        this.settle(seq, undefined, error);
      }
    }
    const [seq, woke] = this.send(name, args);
    try {
      return this.waitSync(seq, ChannelState.REPLY, woke);
    } finally {
      this.noteIdle();
    }
  }

  /**
   * A call made while the enclave waits for one of its host calls: published in the NESTED_ states
   * over whatever the channel holds — the outer call running, a request not yet taken, or a reply
   * not yet collected (the enclave answered, then called out from a timer) — which is put back
   * once the nested reply is in.
   */
  private callNested(name: string, args: readonly unknown[]): unknown {
    this.checkUsable();
    const { header, request: area, reply: replyArea } = this.parts.view;
    const state = Atomics.load(header, ChannelField.state);
    const fields = [
      ChannelField.seq,
      ChannelField.length,
      ChannelField.replySeq,
      ChannelField.status,
      ChannelField.replyLength,
    ];
    const savedFields = fields.map((f) => header[f]);
    const within = (n: number, area: Uint8Array): number => Math.max(0, Math.min(n, area.length));
    const outerRequest =
      state === ChannelState.REQUEST || state === ChannelState.NESTED_REQUEST
        ? area.slice(0, within(header[ChannelField.length], area))
        : undefined;
    const outerReply =
      state === ChannelState.REPLY || state === ChannelState.NESTED_REPLY
        ? replyArea.slice(0, within(header[ChannelField.replyLength], replyArea))
        : undefined;
    const request = this.encodeRequest(name, args);
    const seq = ++this.seq;
    area.set(request);
    header[ChannelField.seq] = seq;
    header[ChannelField.length] = request.length;
    Atomics.store(header, ChannelField.state, ChannelState.NESTED_REQUEST);
    this.server.wakeWaiting();
    try {
      return this.waitSync(seq, ChannelState.NESTED_REPLY, true);
    } finally {
      if (outerRequest !== undefined) area.set(outerRequest);
      if (outerReply !== undefined) replyArea.set(outerReply);
      fields.forEach((f, i) => (header[f] = savedFields[i]));
      Atomics.store(header, ChannelField.state, state);
    }
  }

  /** Stops the enclave and its platform thread. */
  async close(): Promise<void> {
    this.ended ??= 'the enclave was closed';
    liveEnclaves.delete(this);
    // Releases the waiter on `pendingWork` (it holds the channel's memory while registered).
    Atomics.notify(this.parts.view.header, ChannelField.pendingWork);
    // Referenced again until they have stopped: the caller awaits this, and nothing else may keep
    // the process alive meanwhile.
    this.parts.worker.ref();
    this.parts.platformThread.ref();
    await Promise.all([this.parts.worker.terminate(), this.parts.platformThread.terminate()]);
  }

  /** For tests of the enclave's defences: a request of arbitrary bytes (and claimed length), as a hostile host could send. */
  callRaw(request: Uint8Array, claimedLength = request.length): unknown {
    this.checkUsable();
    const seq = ++this.seq;
    try {
      return this.waitSync(seq, ChannelState.REPLY, this.publish(seq, request, claimedLength));
    } finally {
      this.noteIdle();
    }
  }

  private settle(seq: number, value: unknown, error: unknown): void {
    const pending = this.asyncInFlight;
    if (!pending || pending.seq !== seq) return;
    this.asyncInFlight = undefined;
    if (error === undefined) pending.resolve(value);
    else pending.reject(error);
  }

  /**
   * The enclave ended: the async call in flight is settled now, with its reply if one is there
   * (the pump, parked on the event loop, keeps nothing alive to see it later).
   */
  private failInFlight(): void {
    const inFlight = this.asyncInFlight;
    if (inFlight && this.replyReady()) this.collectReply(inFlight.seq);
    else if (inFlight)
      this.settle(inFlight.seq, undefined, new JsEnclaveError(this.ended ?? 'closed', 'closed'));
    this.keepAlive();
  }

  private collectReply(seq: number): void {
    try {
      this.settle(seq, this.takeReply(seq), undefined);
    } catch (error) {
      this.settle(seq, undefined, error);
    }
  }

  /** What the enclave's `pendingWork` says: BUSY is the only value that keeps the host serving. */
  private enclaveHasWork(): boolean {
    return Atomics.load(this.parts.view.header, ChannelField.pendingWork) === PendingWork.BUSY;
  }

  /** Refs the Worker (keeping the process alive) while a call is in flight or the enclave has work. */
  private keepAlive(): void {
    const wanted = this.ended === undefined && (this.asyncInFlight !== undefined || this.enclaveBusy);
    if (wanted === this.referenced) return;
    this.referenced = wanted;
    if (wanted) this.parts.worker.ref();
    else this.parts.worker.unref();
  }

  /** After a synchronous call: serve the enclave while it has work of its own, or watch for it to get some. */
  private noteIdle(): void {
    if (this.pumping) return;
    this.enclaveBusy = this.enclaveHasWork();
    this.keepAlive();
    if (this.enclaveBusy) void this.pump();
    else this.watchPending();
  }

  /**
   * Waits (without keeping the process alive) for the enclave to say it has work of its own after
   * a reply that said it had none (a timer started by microtasks after the reply), and then starts
   * the pump.
   */
  private watchPending(): void {
    if (this.watching || this.ended !== undefined) return;
    const header = this.parts.view.header;
    const waited = Atomics.waitAsync(
      header,
      ChannelField.pendingWork,
      Atomics.load(header, ChannelField.pendingWork),
    );
    if (!waited.async) {
      this.noteIdle();
      return;
    }
    this.watching = true;
    void waited.value.then(() => {
      this.watching = false;
      if (this.ended === undefined) this.noteIdle();
    });
  }

  /**
   * Before the process exits: an enclave whose last reply is not yet confirmed idle gets a moment
   * to say whether microtasks after it started a timer; one that did keeps the process alive.
   */
  lastLook(): void {
    if (this.ended !== undefined || this.pumping) return;
    const header = this.parts.view.header;
    if (Atomics.load(header, ChannelField.pendingWork) === PendingWork.UNCONFIRMED)
      Atomics.wait(header, ChannelField.pendingWork, PendingWork.UNCONFIRMED, LAST_LOOK_MS);
    this.noteIdle();
  }

  /**
   * The host's one waiter on its event loop: collects the reply of the async call in flight and
   * serves the enclave's host calls, for as long as a call is in flight or the enclave has work of
   * its own (timers whose callbacks call out, or settle a promise an async call awaits). A wait
   * that began by waking the parked enclave parks at once; otherwise it spins first, as `waitSync`
   * does (only while a call is in flight: an enclave busy with timers answers in its own time).
   */
  private async pump(woke = false): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    const control = this.parts.ring.control;
    let spin = !woke;
    try {
      for (;;) {
        const seen = Atomics.load(control, Control.submitted);
        // No request, no turn of the microtask queue.
        if (this.server.hasRequest() && (await this.server.serveAsync())) spin = false;
        const inFlight = this.asyncInFlight;
        if (inFlight && this.replyReady()) {
          this.collectReply(inFlight.seq);
          spin = true;
          continue;
        }
        if (this.ended !== undefined) {
          if (inFlight) this.settle(inFlight.seq, undefined, new JsEnclaveError(this.ended, 'closed'));
          return;
        }
        this.enclaveBusy = this.enclaveHasWork();
        if (!inFlight && !this.enclaveBusy) return;
        if (inFlight && spin && this.spinForEnclave()) continue;
        Atomics.store(control, Control.hostParked, 1);
        this.pumpParked = true;
        if (!this.server.hasRequest() && !(inFlight && this.replyReady())) {
          const waited = Atomics.waitAsync(control, Control.submitted, seen, PARK_MS);
          if (waited.async) await waited.value;
        }
        this.pumpParked = false;
        Atomics.store(control, Control.hostParked, 0);
        spin = true;
      }
    } finally {
      this.pumping = false;
      this.keepAlive();
      this.watchPending();
    }
  }

  private checkUsable(): void {
    if (this.ended !== undefined) throw new JsEnclaveError(this.ended, 'closed');
  }

  /** The request bytes of a call; arguments the codec cannot carry are the caller's error. */
  private encodeRequest(name: string, args: readonly unknown[]): Uint8Array {
    try {
      return encodeValue([name, args], this.parts.view.maxMessageBytes);
    } catch (error) {
      if (error instanceof CodecError)
        throw new JsEnclaveError(`cannot send the arguments of ${name}: ${error.message}`, 'refused');
      throw error;
    }
  }

  /** Publishes a call: its sequence number, and whether the enclave had parked and was woken. */
  private send(name: string, args: readonly unknown[]): [number, boolean] {
    this.checkUsable();
    if (typeof name !== 'string' || !Array.isArray(args))
      throw new TypeError('call(name: string, args: unknown[])');
    const request = this.encodeRequest(name, args);
    const seq = ++this.seq;
    return [seq, this.publish(seq, request, request.length)];
  }

  /** True when the enclave had parked and had to be woken. */
  private publish(seq: number, request: Uint8Array, claimedLength: number): boolean {
    const { header, request: area } = this.parts.view;
    area.set(request.subarray(0, area.length));
    header[ChannelField.seq] = seq;
    header[ChannelField.length] = claimedLength;
    Atomics.store(header, ChannelField.state, ChannelState.REQUEST);
    // A spinning enclave sees the store; waking one parked on its event loop costs a syscall.
    if (Atomics.load(header, ChannelField.enclaveParked) !== 1) return false;
    Atomics.notify(header, ChannelField.state);
    return true;
  }

  private replyReady(state: number = ChannelState.REPLY): boolean {
    return Atomics.load(this.parts.view.header, ChannelField.state) === state;
  }

  /**
   * Blocks until the reply to `seq`, serving the enclave's host calls meanwhile. A wait that
   * began by waking the parked enclave (`woke`: the request, or a host call's reply) parks at
   * once instead of spinning: the woken thread needs a core, and a spin would hold the one it
   * could take (on an oversubscribed machine that made a hand-off several times slower). A wait
   * whose partner was running spins first, within the adaptive window.
   */
  private waitSync(seq: number, replyState: number, woke: boolean): unknown {
    const control = this.parts.ring.control;
    const deadline = performance.now() + (this.parts.options.syncTimeoutMs ?? 120_000);
    let spin = !woke;
    for (;;) {
      const seen = Atomics.load(control, Control.submitted);
      if (this.server.serveSync()) spin = false;
      if (this.replyReady(replyState)) return this.takeReply(seq);
      if (spin && this.spinForEnclave(replyState)) continue;
      if (performance.now() > deadline) {
        this.ended ??= 'the enclave did not answer a synchronous call in time';
        throw new JsEnclaveError(this.ended, 'timeout');
      }
      Atomics.store(control, Control.hostParked, 1);
      if (!this.server.hasRequest() && !this.replyReady(replyState))
        Atomics.wait(control, Control.submitted, seen, PARK_MS);
      // The pump, parked on the event loop below this call, still needs the enclave's wake-ups.
      Atomics.store(control, Control.hostParked, this.pumpParked ? 1 : 0);
      spin = true;
    }
  }

  /** Spins (within the adaptive window) until the enclave replies or makes a host call. */
  private spinForEnclave(replyState: number = ChannelState.REPLY): boolean {
    const until = performance.now() + this.spin.windowMs;
    do {
      for (let i = 0; i < 64; i++) {
        if (this.replyReady(replyState) || this.server.hasRequest()) {
          this.spin.hit();
          return true;
        }
      }
    } while (performance.now() < until);
    this.spin.miss();
    return false;
  }

  private takeReply(seq: number): unknown {
    const { header, reply, maxMessageBytes } = this.parts.view;
    const replySeq = header[ChannelField.replySeq];
    const status = header[ChannelField.status];
    const length = header[ChannelField.replyLength];
    if (replySeq !== seq || !(length >= 0 && length <= maxMessageBytes)) {
      this.ended = 'the enclave answered out of turn';
      throw new JsEnclaveError(this.ended, 'stopped');
    }
    const bytes = reply.slice(0, length);
    Atomics.store(header, ChannelField.state, ChannelState.IDLE);
    let value: unknown;
    try {
      value = decodeValue(bytes);
    } catch (error) {
      throw new JsEnclaveError(`the enclave's reply does not decode: ${(error as Error).message}`, 'stopped');
    }
    switch (status) {
      case CallStatus.OK:
        return value;
      case CallStatus.THREW: {
        const [name, message] = Array.isArray(value) ? (value as [unknown, unknown]) : ['Error', value];
        throw new JsEnclaveError(String(message), 'threw', String(name));
      }
      case CallStatus.REFUSED:
        throw new JsEnclaveError(`the enclave refused the call: ${String(value)}`, 'refused');
      case CallStatus.LOAD_FAILED:
        this.ended = `the enclave could not load the application: ${String(value)}`;
        throw new JsEnclaveError(this.ended, 'load');
      case CallStatus.STOPPED:
        this.ended = String(value);
        throw new JsEnclaveError(this.ended, 'stopped');
      default:
        throw new JsEnclaveError(`the enclave replied with status ${status}`, 'stopped');
    }
  }
}
