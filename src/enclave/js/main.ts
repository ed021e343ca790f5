/**
 * The JavaScript enclave's entry point (dist/js-enclave.js): the first code that runs in the
 * enclave Worker. It takes the measured application bundle and configuration, builds the API the
 * app imports as `cloister:enclave`, locks the realm down (sandbox.ts), loads the app, answers
 * the start call with its entries, and then serves the host's calls one at a time.
 * Nothing here trusts the host: requests are copied out of shared memory before they are parsed,
 * and the host's own replies go through the ring's checks.
 */
import { compileFunction } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { canonicalJson } from '../../interface/jcs.ts';
import { encodeValue } from '../../interface/js-enclave-codec.ts';
import {
  CALL_SPIN_WINDOWS,
  CallStatus,
  ChannelField,
  ChannelState,
  MAX_NESTED_CALLS,
  START_SEQ,
  normalizeJsConfig,
  viewCallChannel,
  type ChannelView,
  type JsEnclaveConfig,
  type JsEnclaveStart,
} from '../../interface/js-enclave.ts';
import { Control, viewRing, type RingView } from '../../interface/ring.ts';
import { AdaptiveSpin } from '../../interface/spin.ts';
import { Platform } from '../attest/platform-client.ts';
import { provisionFromKbs } from '../kbs/provision.ts';
import { HostChannel, HostProtocolError } from '../ring/channel.ts';
import { enclaveApi } from './api.ts';
import { enclaveConsole } from './console.ts';
import { Dispatcher, LoadError, entryTable, type Outcome } from './entries.ts';
import { HostCalls } from './host-call.ts';
import { appRequire, lockDownRealm } from './sandbox.ts';
import { PendingWorkSignal } from './pending-work.ts';
import { Sealer } from './seal.ts';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
// Taken before the lockdown deletes the global: the runtime's one use of it is to learn of
// exceptions the app throws outside a call.
const nodeProcess = process;

/**
 * Publishes a reply, with whether the app has work pending, and rings the doorbell the host waits
 * on; true when the parked host was woken.
 */
function reply(
  view: ChannelView,
  ring: RingView,
  pending: PendingWorkSignal,
  seq: number,
  outcome: Outcome,
  state: number = ChannelState.REPLY,
): boolean {
  let { status, data } = outcome;
  if (data.length > view.maxMessageBytes) {
    status = CallStatus.THREW;
    data = encodeValue(
      ['RangeError', `the reply of ${data.length} bytes exceeds the message limit`],
      view.maxMessageBytes,
    );
  }
  const h = view.header;
  view.reply.set(data);
  h[ChannelField.replySeq] = seq;
  h[ChannelField.status] = status;
  h[ChannelField.replyLength] = data.length;
  pending.beforeReply();
  Atomics.store(h, ChannelField.state, state);
  Atomics.add(ring.control, Control.submitted, 1);
  if (Atomics.load(ring.control, Control.hostParked) !== 1) return false;
  Atomics.notify(ring.control, Control.submitted);
  return true;
}

/**
 * The channel's state once a request came, or when the spin window ran out. After a reply that
 * woke the parked host there is no spin: the host needs a core, and this thread would hold one.
 */
function nextState(h: Int32Array, spin: AdaptiveSpin, wokeHost: boolean): number {
  let state = Atomics.load(h, ChannelField.state);
  if (state === ChannelState.REQUEST || wokeHost) return state;
  const until = performance.now() + spin.windowMs;
  do {
    for (let i = 0; i < 64; i++) {
      state = Atomics.load(h, ChannelField.state);
      if (state === ChannelState.REQUEST) {
        spin.hit();
        return state;
      }
    }
  } while (performance.now() < until);
  spin.miss();
  return state;
}

/** The measured configuration, re-checked: the enclave acts only on what it understands. */
function readConfig(text: string): JsEnclaveConfig {
  const parsed = JSON.parse(text) as Partial<JsEnclaveConfig>;
  const config = normalizeJsConfig(parsed);
  if (canonicalJson(config) !== text) throw new LoadError('the configuration is not in canonical form');
  return config;
}

function loadApp(start: JsEnclaveStart, config: JsEnclaveConfig, api: object, console: Console): Dispatcher {
  let source: string;
  try {
    source = strictUtf8.decode(start.app);
  } catch {
    throw new LoadError('the application bundle is not valid UTF-8');
  }
  const require = appRequire(api);
  // Compiled without a dynamic-import callback: `import()` in the app fails rather than loading
  // a Node module.
  const body = compileFunction(source, ['exports', 'require', 'module', 'console'], {
    filename: 'enclave-app.js',
  });
  lockDownRealm(console);
  const module = { exports: {} as unknown };
  body(module.exports, require, module, console);
  return new Dispatcher(entryTable(module.exports, config.entries), config.maxMessageBytes);
}

/**
 * Serves a call the host's handler makes while the app waits in a host call (a callback that
 * calls back in, as SGX's nested ECALLs): the same allow-list and checks as any call, synchronous
 * entries only, at most MAX_NESTED_CALLS deep. The host can place such a call only while the app
 * waits for one of its own host calls, never in the middle of enclave code.
 */
function nestedServer(
  view: ChannelView,
  ring: RingView,
  pending: PendingWorkSignal,
  dispatcher: Dispatcher,
  hostCalls: HostCalls,
  stopped: () => Outcome,
): () => void {
  let depth = 0;
  const h = view.header;
  return () => {
    if (Atomics.load(h, ChannelField.state) !== ChannelState.NESTED_REQUEST) return;
    const seq = h[ChannelField.seq];
    const length = h[ChannelField.length];
    Atomics.store(h, ChannelField.state, ChannelState.NESTED_RUNNING);
    let outcome: Outcome;
    if (hostCalls.broken !== undefined) outcome = stopped();
    else if (!Number.isInteger(length) || length < 0 || length > view.maxMessageBytes)
      outcome = dispatcher.refuse(`request length ${length} outside 0..${view.maxMessageBytes}`);
    else if (depth >= MAX_NESTED_CALLS)
      outcome = dispatcher.refuse(`calls nested more than ${MAX_NESTED_CALLS} deep inside host calls`);
    else {
      depth++;
      try {
        outcome = dispatcher.dispatchNested(view.request.slice(0, length));
      } finally {
        depth--;
      }
    }
    reply(view, ring, pending, seq, outcome, ChannelState.NESTED_REPLY);
  };
}

async function serve(start: JsEnclaveStart): Promise<void> {
  const ring = viewRing(start.ring);
  const channel = new HostChannel(ring);
  const config = readConfig(start.config);
  const view = viewCallChannel(start.channel, config.maxMessageBytes);
  const pending = new PendingWorkSignal(view.header, ring, nodeProcess);
  const platform = new Platform(start.platform, channel);
  const hostCalls = new HostCalls(channel, config.maxMessageBytes);
  const stopped = (): Outcome => ({
    status: CallStatus.STOPPED,
    data: encodeValue(`the enclave has stopped: ${hostCalls.broken}`, view.maxMessageBytes),
  });
  // The call being served (the start, first); cleared once answered, also when the enclave stops.
  let current: number | undefined = START_SEQ;
  // An exception the app throws outside any call (a timer, a forgotten promise) stops the
  // enclave: its state is no longer known. The call in flight, if any, is answered now. Installed
  // before the app's first line, which never sees `process`.
  const fatal = (error: unknown): void => {
    if (typeof error === 'object' && error !== null && hostCalls.raisedByHost.has(error)) {
      hostRaisedUncaught(error);
      return;
    }
    const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    hostCalls.broken ??= `the application failed outside a call: ${what}`;
    if (current === undefined) return;
    reply(view, ring, pending, current, stopped());
    current = undefined;
  };
  // An error the host raised in a host call that the app did not catch: it ends that task, as it
  // would fail a call that met it, and the host hears of it (a host without the handler ignores it).
  const hostRaisedUncaught = (error: object): void => {
    if (hostCalls.broken !== undefined) return;
    let name = 'Error';
    let message = '';
    try {
      if (error instanceof Error) [name, message] = [String(error.name), String(error.message)];
    } catch {
      message = 'an error whose name or message cannot be read';
    }
    const cap = Math.floor(config.maxMessageBytes / 8);
    try {
      hostCalls.call(
        'cloister-uncaught',
        encodeValue([name.slice(0, 200), message.slice(0, cap)], config.maxMessageBytes),
      );
    } catch {
      // Nobody on the host listens, or the ring broke (then the next call says so).
    }
  };
  nodeProcess.on('uncaughtException', fatal);
  nodeProcess.on('unhandledRejection', fatal);

  let dispatcher: Dispatcher;
  try {
    const api = enclaveApi({
      mrenclave: start.mrenclave,
      settings: config.settings,
      sealer: new Sealer((policy) => platform.sealKey(policy)),
      platform,
      hostCalls,
      kbsResource: async (resource) => {
        if (!config.kbs) throw new LoadError('kbsResource: the configuration names no key broker (kbs.url)');
        return provisionFromKbs({ url: config.kbs.url, resource }, channel, platform);
      },
    });
    const console = enclaveConsole(channel, () => hostCalls.broken !== undefined);
    dispatcher = loadApp(start, config, api, console);
    channel.drain();
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    reply(view, ring, pending, START_SEQ, {
      status: CallStatus.LOAD_FAILED,
      data: encodeValue(message, view.maxMessageBytes),
    });
    return;
  }
  current = undefined;
  hostCalls.whileWaiting = nestedServer(view, ring, pending, dispatcher, hostCalls, stopped);
  reply(view, ring, pending, START_SEQ, {
    status: CallStatus.OK,
    data: encodeValue(dispatcher.names, config.maxMessageBytes),
  });

  const h = view.header;
  const spin = new AdaptiveSpin(CALL_SPIN_WINDOWS.enclave);
  let wokeHost = false;
  for (;;) {
    const state = nextState(h, spin, wokeHost);
    wokeHost = false;
    if (state !== ChannelState.REQUEST) {
      // Parked is set before the state is compared again (inside waitAsync): a host that stores
      // REQUEST after that comparison sees the flag and notifies.
      Atomics.store(h, ChannelField.enclaveParked, 1);
      const waited = Atomics.waitAsync(h, ChannelField.state, state);
      if (waited.async) await waited.value;
      Atomics.store(h, ChannelField.enclaveParked, 0);
      continue;
    }
    // Each header field is read once; the request is copied out before anything parses it.
    const seq = h[ChannelField.seq];
    const length = h[ChannelField.length];
    Atomics.store(h, ChannelField.state, ChannelState.RUNNING);
    current = seq;
    let outcome: Outcome;
    if (hostCalls.broken !== undefined) {
      outcome = stopped();
    } else if (!Number.isInteger(length) || length < 0 || length > view.maxMessageBytes) {
      outcome = dispatcher.refuse(`request length ${length} outside 0..${view.maxMessageBytes}`);
    } else {
      outcome = await dispatcher.dispatch(view.request.slice(0, length));
      try {
        if (hostCalls.broken === undefined) channel.drain();
      } catch (error) {
        if (!(error instanceof HostProtocolError)) throw error;
        hostCalls.broken = error.message;
      }
      if (hostCalls.broken !== undefined) outcome = stopped();
    }
    if (current !== seq) continue; // already answered by `fatal`
    current = undefined;
    wokeHost = reply(view, ring, pending, seq, outcome);
  }
}

// The port keeps the Worker alive while it waits for calls (Atomics.waitAsync alone does not).
parentPort?.on('message', () => {});
void serve(workerData as JsEnclaveStart);
