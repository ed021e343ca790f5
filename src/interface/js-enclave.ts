/**
 * The JavaScript enclave's shared layouts (both sides): its measured configuration, what the
 * platform hands it at start, and the call channel the host uses to call the enclave's entries
 * (docs/js-enclave.md). Its calls to the host are `JsEnclaveCalls` of calls.ts.
 *
 * Call channel: one `SharedArrayBuffer` with a header of Int32 fields, then a request area and a
 * reply area of `maxMessageBytes` each. Write rights (the other side only reads, and the enclave
 * re-checks everything it reads):
 *   state            both     IDLE -> REQUEST (host), REQUEST -> RUNNING -> REPLY (enclave), REPLY -> IDLE (host)
 *   seq, length      host     the request's sequence number and length in bytes
 *   replySeq, ...    enclave  echoed sequence number, status and reply length
 *   enclaveParked    enclave  1 while it waits on its event loop: only then does the host notify
 *   pendingWork      enclave  whether the app has timers pending (PendingWork): the host serves while idle
 * The enclave answers by ringing the host-call ring's doorbell (`Control.submitted`), the one word
 * the host waits on: the host then serves the ring's requests and collects the reply in one loop,
 * which is what lets a host thread blocked in a synchronous call serve the enclave's host calls.
 */
import type { Json } from './jcs.ts';

/** The measured configuration of a JavaScript enclave; its canonical JSON is part of MRENCLAVE. */
export interface JsEnclaveConfig {
  version: 1;
  /** Largest request or reply of one call, each way, in bytes. */
  maxMessageBytes: number;
  /** The enclave's heap limit. */
  memoryMiB: number;
  /**
   * The entries the host may call, with their [least, most] argument counts. Without it, every
   * function the app exports is callable with exactly its declared parameter count.
   */
  entries?: Record<string, [number, number]>;
  /** The application's own settings (job id, key names...), visible to it as `enclave.config`. */
  settings?: Json;
  /** The key broker the app may fetch resources from (`kbsResource`); measured, so the host cannot redirect it. */
  kbs?: { url: string };
}

export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
export const MAX_MESSAGE_BYTES_LIMIT = 256 * 1024 * 1024;
export const DEFAULT_JS_MEMORY_MIB = 256;

/** What the sim platform hands a JavaScript enclave at start (its EENTER arguments). */
export interface JsEnclaveStart {
  /** The application bundle's UTF-8 bytes, exactly as measured. */
  app: Uint8Array;
  /** Canonical JSON of the `JsEnclaveConfig`, as measured. */
  config: string;
  mrenclave: Uint8Array;
  /** The host-call ring (ring.ts): the enclave's calls to the host. */
  ring: SharedArrayBuffer;
  /** The call channel (this file): the host's calls to the enclave. */
  channel: SharedArrayBuffer;
  /** The platform mailbox: EREPORT and EGETKEY (platform.ts). */
  platform: SharedArrayBuffer;
}

export const HEADER_INTS = 16;
const HEADER_BYTES = HEADER_INTS * 4;

/** Int32 field indexes of the call channel's header. */
export const ChannelField = {
  state: 0,
  seq: 1,
  length: 2,
  replySeq: 4,
  status: 5,
  replyLength: 6,
  enclaveParked: 7,
  pendingWork: 8,
} as const;

/**
 * Whether the app has work of its own pending (timers, immediates: callbacks that may call the
 * host or settle a promise the host awaits with no call from the host), in `pendingWork`. While it
 * is BUSY the host serves the enclave's host calls when it is idle and keeps its process alive.
 * A reply with no timers left says UNCONFIRMED: microtasks after it may still start one, and the
 * enclave confirms (IDLE) or corrects (BUSY, waking the host) on its loop's next turn.
 */
export const PendingWork = { IDLE: 0, BUSY: 1, UNCONFIRMED: 2 } as const;

/**
 * The NESTED_ states carry a call the host makes while the enclave waits in one of the app's host
 * calls (its handler called an entry): the host keeps the outer call's state and restores it after.
 */
export const ChannelState = {
  IDLE: 0,
  REQUEST: 1,
  RUNNING: 2,
  REPLY: 3,
  NESTED_REQUEST: 4,
  NESTED_RUNNING: 5,
  NESTED_REPLY: 6,
} as const;

/** How deep host calls and the entries their handlers call may nest. */
export const MAX_NESTED_CALLS = 8;

/** Reply status of a call. */
export const CallStatus = {
  /** The reply is the encoded result. */
  OK: 0,
  /** The entry threw: the reply is the encoded `[name, message]` of the error. */
  THREW: 1,
  /** The enclave refused the call (unknown entry, argument count, malformed or oversized): `message`. */
  REFUSED: 2,
  /** The enclave could not load the application: `message`. Only as the reply to the start. */
  LOAD_FAILED: 3,
  /** The enclave has stopped (the host broke a protocol): `message`. Every later call gets it too. */
  STOPPED: 4,
} as const;

/** The sequence number of the start "call": the enclave's first reply says whether the app loaded. */
export const START_SEQ = 0;

/**
 * Spin windows (ms, adapted as in spin.ts) of the call channel. A partitioned application makes
 * its calls in bursts (an entry, the host calls it makes, the next entry of the same request),
 * so each side spins for the other's next store before it parks on its event loop, where a
 * wake-up (`Atomics.waitAsync`) costs a task of that loop and, under load, a scheduler slice.
 */
export const CALL_SPIN_WINDOWS = {
  /** The enclave, idle after answering a call, for the next request. */
  enclave: { minMs: 0.005, maxMs: 0.5 },
  /** The host, in `call`, for the reply or a host call. */
  host: { minMs: 0.005, maxMs: 0.5 },
} as const;

export interface ChannelView {
  readonly header: Int32Array;
  readonly request: Uint8Array;
  readonly reply: Uint8Array;
  readonly maxMessageBytes: number;
}

export function createCallChannel(maxMessageBytes: number): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(HEADER_BYTES + 2 * maxMessageBytes);
  // The start call is in flight from the beginning: the enclave answers it once the app has loaded.
  const header = new Int32Array(buffer, 0, HEADER_INTS);
  header[ChannelField.seq] = START_SEQ;
  header[ChannelField.state] = ChannelState.RUNNING;
  return buffer;
}

export function viewCallChannel(buffer: SharedArrayBuffer, maxMessageBytes: number): ChannelView {
  if (buffer.byteLength !== HEADER_BYTES + 2 * maxMessageBytes) {
    throw new RangeError('call channel size does not match the configured message limit');
  }
  return {
    header: new Int32Array(buffer, 0, HEADER_INTS),
    request: new Uint8Array(buffer, HEADER_BYTES, maxMessageBytes),
    reply: new Uint8Array(buffer, HEADER_BYTES + maxMessageBytes, maxMessageBytes),
    maxMessageBytes,
  };
}

/** The first byte of an app call's reply (the calls themselves: `JsAppCalls` in calls.ts). */
export const HostCallOutcome = { OK: 0, ERROR: 1 } as const;
export const MAX_HOST_CALL_NAME = 256;

/** The configuration with defaults filled in, checked: a clear error for anything out of range. */
export function normalizeJsConfig(config: Partial<JsEnclaveConfig> = {}): JsEnclaveConfig {
  const maxMessageBytes = config.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (
    !Number.isInteger(maxMessageBytes) ||
    maxMessageBytes < 1024 ||
    maxMessageBytes > MAX_MESSAGE_BYTES_LIMIT
  ) {
    throw new RangeError(`maxMessageBytes must be an integer from 1024 to ${MAX_MESSAGE_BYTES_LIMIT}`);
  }
  const memoryMiB = config.memoryMiB ?? DEFAULT_JS_MEMORY_MIB;
  if (!Number.isInteger(memoryMiB) || memoryMiB < 16 || memoryMiB > 65536) {
    throw new RangeError('memoryMiB must be an integer from 16 to 65536');
  }
  const out: JsEnclaveConfig = { version: 1, maxMessageBytes, memoryMiB };
  if (config.entries) {
    for (const [name, range] of Object.entries(config.entries)) {
      const ok =
        Array.isArray(range) &&
        range.length === 2 &&
        range.every((n) => Number.isInteger(n) && n >= 0 && n <= 255) &&
        range[0] <= range[1];
      if (!ok) throw new RangeError(`entry ${JSON.stringify(name)}: argument counts must be [least, most]`);
    }
    out.entries = config.entries;
  }
  if (config.settings !== undefined) out.settings = config.settings;
  if (config.kbs !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(config.kbs.url);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new RangeError(`kbs.url must be an http(s) URL, got ${JSON.stringify(config.kbs.url)}`);
    }
    out.kbs = { url: config.kbs.url };
  }
  return out;
}
