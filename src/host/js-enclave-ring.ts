/**
 * The host's end of a JavaScript enclave's host-call ring. Unlike the WASI enclave's ring server
 * (its own thread, ring-server.ts), this one runs on the thread that calls the enclave: it serves
 * whatever the enclave has submitted whenever that thread waits for a reply, so a host blocked in
 * `callSync` still answers the enclave's host calls, on the same thread, as an SGX ocall would.
 */
import { JsEnclaveCalls } from '../interface/calls.ts';
import { HostCallOutcome, MAX_HOST_CALL_NAME } from '../interface/js-enclave.ts';
import { mailboxCallAsync } from '../interface/mailbox.ts';
import { NET_FETCH } from '../interface/net-relay.ts';
import { ARG_COUNT, SLOT_COUNT, SlotField, SlotState, type RingView } from '../interface/ring.ts';
import { attestationHandlers } from './calls/attestation.ts';
import { keyBrokerRelayHandlers } from './calls/network.ts';
import { relayed } from './calls/relay.ts';
import {
  failure,
  serveCalls,
  serveCallsAsync,
  type AsyncHostHandlers,
  type HostHandlers,
} from './calls/serve.ts';
import { writeReply, type ReplyWriter, type Request, type Response } from './ring-server.ts';

/** A host function the enclave may call by name: bytes in, bytes out. */
export type HostHandler = (data: Uint8Array) => Uint8Array | Promise<Uint8Array>;

export interface JsRingOptions {
  ring: RingView;
  handlers: ReadonlyMap<string, HostHandler>;
  qeMailbox: SharedArrayBuffer;
  netMailbox: SharedArrayBuffer;
  maxMessageBytes: number;
  onConsole: (stream: 1 | 2, text: string) => void;
  /** Tests of the enclave's defences rewrite replies here; the real host passes them through. */
  replyWriter?: ReplyWriter;
}

const utf8 = new TextEncoder();
const utf8Lossy = new TextDecoder();

export class JsRingServer {
  private next = 0;
  private requestParts: Uint8Array[] = [];
  private requestLength = 0;
  private pendingReply = new Uint8Array(0);
  /** The slots of the requests being served, innermost last: the enclave waits in each. */
  private readonly inService: number[] = [];

  private readonly serveBlocking: (request: Request) => Response;
  private readonly serveOnLoop: (request: Request) => Response | Promise<Response>;

  constructor(private readonly options: JsRingOptions) {
    this.serveBlocking = serveCalls(JsEnclaveCalls, this.blockingHandlers());
    this.serveOnLoop = serveCallsAsync(JsEnclaveCalls, this.loopHandlers());
  }

  /** True when the next slot holds a request. */
  hasRequest(): boolean {
    const slot = this.options.ring.slots[this.next & (SLOT_COUNT - 1)];
    return Atomics.load(slot.header, SlotField.state) === SlotState.SUBMITTED;
  }

  /** True while a request is served: the enclave waits in its host call. */
  get serving(): boolean {
    return this.inService.length > 0;
  }

  /** Wakes the enclave waiting in the innermost request served (to take a nested call). */
  wakeWaiting(): void {
    const index = this.inService.at(-1);
    if (index !== undefined) Atomics.notify(this.options.ring.slots[index].header, SlotField.state);
  }

  /** Serves every waiting request in order; true when a reply had to wake the parked enclave. */
  serveSync(): boolean {
    let woke = false;
    while (this.hasRequest()) {
      const index = this.next & (SLOT_COUNT - 1);
      this.inService.push(index);
      try {
        const request = this.take();
        woke = this.publish(index, request, this.serveBlocking(request)) || woke;
      } finally {
        this.inService.pop();
      }
    }
    return woke;
  }

  /** The same on the event loop: handlers may be async. */
  async serveAsync(): Promise<boolean> {
    let woke = false;
    while (this.hasRequest()) {
      const index = this.next & (SLOT_COUNT - 1);
      this.inService.push(index);
      try {
        const request = this.take();
        woke = this.publish(index, request, await this.serveOnLoop(request)) || woke;
      } finally {
        this.inService.splice(this.inService.lastIndexOf(index), 1);
      }
    }
    return woke;
  }

  /** Copies the next request out and moves on: requests a nested call makes take the next slots. */
  private take(): Request {
    const slot = this.options.ring.slots[this.next & (SLOT_COUNT - 1)];
    this.next++;
    const h = slot.header;
    const args: bigint[] = [];
    for (let i = 0; i < ARG_COUNT; i++) args.push(slot.args[i]);
    const payloadLength = Math.max(0, Math.min(h[SlotField.payloadLength], slot.data.length));
    return {
      callId: h[SlotField.callId],
      seq: h[SlotField.seq],
      args,
      payload: slot.data.slice(0, payloadLength),
      replyLimit: Math.max(0, Math.min(h[SlotField.replyLimit], slot.data.length)),
      data: slot.data,
    };
  }

  /** Publishes a reply; true when the enclave had parked and had to be woken. */
  private publish(index: number, request: Request, response: Response): boolean {
    const slot = this.options.ring.slots[index];
    (this.options.replyWriter ?? writeReply)(slot, request, response);
    Atomics.store(slot.header, SlotField.state, SlotState.DONE);
    if (Atomics.load(slot.header, SlotField.enclaveWaiting) !== 1) return false;
    Atomics.notify(slot.header, SlotField.state);
    return true;
  }

  /** The calls served while the caller blocks its thread (`callSync`). */
  private blockingHandlers(): HostHandlers<typeof JsEnclaveCalls> {
    return {
      consoleWrite: ({ fd, data }) => this.options.onConsole(fd === 2 ? 2 : 1, utf8Lossy.decode(data)),
      // The QE and the network relay are the platform thread's; the host only relays, as it would to a real QE.
      ...attestationHandlers(this.options.qeMailbox),
      ...keyBrokerRelayHandlers(this.options.netMailbox),
      appCallPart: ({ offset, part }) => {
        if (!this.appendPart(offset, part)) throw failure('EINVAL', 'request part out of order');
      },
      appCall: ({ length, part }) => this.appCallBlocking(length, part),
      appReplyPart: ({ offset }) => {
        if (offset < 1 || offset >= this.pendingReply.length) throw failure('EINVAL', 'no such reply part');
        return this.pendingReply.subarray(offset);
      },
    };
  }

  /** The calls served while the caller waits on its event loop: slow relays and handlers need not block it. */
  private loopHandlers(): AsyncHostHandlers<typeof JsEnclaveCalls> {
    const { netMailbox } = this.options;
    return {
      ...this.blockingHandlers(),
      netFetch: ({ request }, out) =>
        mailboxCallAsync(netMailbox, NET_FETCH, request).then((reply) => relayed(reply, out)),
      appCall: ({ length, part }) => this.appCallOnLoop(length, part),
    };
  }

  private appendPart(offset: number, part: Uint8Array): boolean {
    const limit = 2 + MAX_HOST_CALL_NAME + this.options.maxMessageBytes;
    if (offset !== this.requestLength || this.requestLength + part.length > limit) {
      this.requestParts = [];
      this.requestLength = 0;
      return false;
    }
    this.requestParts.push(part);
    this.requestLength += part.length;
    return true;
  }

  /** The app's handler for the whole request, with its input; an error reply when there is none. */
  private takeAppCall(
    length: number,
    last: Uint8Array,
  ): { name: string; handler: HostHandler; data: Uint8Array } | Uint8Array {
    const ok = this.appendPart(this.requestLength, last) && length === this.requestLength;
    const whole = Buffer.concat(this.requestParts);
    this.requestParts = [];
    this.requestLength = 0;
    if (!ok || whole.length < 2) throw failure('EINVAL', 'request length does not match its parts');
    const nameLength = whole.readUInt16LE(0);
    if (nameLength === 0 || 2 + nameLength > whole.length) throw failure('EINVAL', 'malformed request');
    const name = utf8Lossy.decode(whole.subarray(2, 2 + nameLength));
    const handler = this.options.handlers.get(name);
    if (!handler) return this.appReply(utf8.encode(`no host handler named ${name}`), HostCallOutcome.ERROR);
    return { name, handler, data: new Uint8Array(whole.subarray(2 + nameLength)) };
  }

  private appCallBlocking(length: number, last: Uint8Array): Uint8Array {
    const call = this.takeAppCall(length, last);
    if (call instanceof Uint8Array) return call;
    try {
      const result = call.handler(call.data);
      if (result instanceof Promise) {
        void result.catch(() => {});
        return this.appFailed('the handler is async; a callSync needs a synchronous host handler');
      }
      return this.appDone(call.name, result);
    } catch (error) {
      return this.appFailed(error);
    }
  }

  private async appCallOnLoop(length: number, last: Uint8Array): Promise<Uint8Array> {
    const call = this.takeAppCall(length, last);
    if (call instanceof Uint8Array) return call;
    try {
      return this.appDone(call.name, await call.handler(call.data));
    } catch (error) {
      return this.appFailed(error);
    }
  }

  private appDone(name: string, reply: Uint8Array): Uint8Array {
    if (!(reply instanceof Uint8Array))
      return this.appFailed(`host handler ${name} must return a Uint8Array`);
    if (reply.length > this.options.maxMessageBytes)
      return this.appFailed(
        `host handler ${name} replied ${reply.length} bytes, more than the message limit`,
      );
    return this.appReply(reply, HostCallOutcome.OK);
  }

  private appFailed(error: unknown): Uint8Array {
    const message = error instanceof Error ? error.message : String(error);
    return this.appReply(utf8.encode(message), HostCallOutcome.ERROR);
  }

  /** The whole reply (outcome byte first), kept for `app_reply_part`; the call's reply is its first part. */
  private appReply(bytes: Uint8Array, outcome: number): Uint8Array {
    const reply = new Uint8Array(1 + bytes.length);
    reply[0] = outcome;
    reply.set(bytes, 1);
    this.pendingReply = reply;
    return reply;
  }
}
