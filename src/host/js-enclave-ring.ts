/**
 * The host's end of a JavaScript enclave's host-call ring. Unlike the WASI enclave's ring server
 * (its own thread, ring-server.ts), this one runs on the thread that calls the enclave: it serves
 * whatever the enclave has submitted whenever that thread waits for a reply, so a host blocked in
 * `callSync` still answers the enclave's host calls, on the same thread, as an SGX ocall would.
 */
import { Calls } from '../interface/calls.ts';
import { Errno } from '../interface/errno.ts';
import { HostCallOutcome, JsCalls, MAX_HOST_CALL_NAME } from '../interface/js-enclave.ts';
import { mailboxCall, mailboxCallAsync, type MailboxReply } from '../interface/mailbox.ts';
import { NET_FETCH } from '../interface/net-relay.ts';
import { QeOp } from '../interface/platform.ts';
import { ARG_COUNT, SLOT_COUNT, SlotField, SlotState, type RingView } from '../interface/ring.ts';
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
const fail = (errno: number): Response => ({ errno });

export class JsRingServer {
  private next = 0;
  private requestParts: Uint8Array[] = [];
  private requestLength = 0;
  private pendingReply = new Uint8Array(0);
  /** Set while a request is served: the enclave waits in its host call and cannot take calls. */
  serving = false;

  constructor(private readonly options: JsRingOptions) {}

  /** True when the next slot holds a request. */
  hasRequest(): boolean {
    const slot = this.options.ring.slots[this.next & (SLOT_COUNT - 1)];
    return Atomics.load(slot.header, SlotField.state) === SlotState.SUBMITTED;
  }

  /** Serves every waiting request in order; an async handler is refused (sync callers cannot wait). */
  serveSync(): void {
    while (this.hasRequest()) {
      this.serving = true;
      try {
        const request = this.take();
        const response = this.handle(request, false);
        if (response instanceof Promise) {
          void response.catch(() => {});
          const message = 'the handler is async; a callSync needs a synchronous host handler';
          this.publish(request, this.appReply(utf8.encode(message), HostCallOutcome.ERROR, request));
        } else this.publish(request, response);
      } finally {
        this.serving = false;
      }
    }
  }

  async serveAsync(): Promise<void> {
    while (this.hasRequest()) {
      this.serving = true;
      try {
        const request = this.take();
        this.publish(request, await this.handle(request, true));
      } finally {
        this.serving = false;
      }
    }
  }

  private take(): Request {
    const slot = this.options.ring.slots[this.next & (SLOT_COUNT - 1)];
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

  private publish(request: Request, response: Response): void {
    const slot = this.options.ring.slots[this.next & (SLOT_COUNT - 1)];
    (this.options.replyWriter ?? writeReply)(slot, request, response);
    Atomics.store(slot.header, SlotField.state, SlotState.DONE);
    if (Atomics.load(slot.header, SlotField.enclaveWaiting) === 1)
      Atomics.notify(slot.header, SlotField.state);
    this.next++;
  }

  /** `onLoop`: the caller waits on its event loop, so slow relays need not block the thread. */
  private handle(request: Request, onLoop: boolean): Response | Promise<Response> {
    switch (request.callId) {
      case Calls.consoleWrite.id: {
        const stream = request.args[0] === 2n ? 2 : 1;
        this.options.onConsole(stream, utf8Lossy.decode(request.payload));
        return { errno: Errno.SUCCESS };
      }
      case Calls.qeTargetInfo.id:
        return this.relay(this.options.qeMailbox, QeOp.TARGET_INFO, new Uint8Array(0), request);
      case Calls.quote.id:
        return this.relay(this.options.qeMailbox, QeOp.QUOTE, request.payload, request);
      case Calls.netFetch.id:
        if (!onLoop) return this.relay(this.options.netMailbox, NET_FETCH, request.payload, request);
        return mailboxCallAsync(this.options.netMailbox, NET_FETCH, request.payload).then((reply) =>
          this.relayed(reply, request),
        );
      case JsCalls.appCallPart.id:
        return this.appendPart(request) ? { errno: Errno.SUCCESS } : fail(Errno.INVAL);
      case JsCalls.appCall.id:
        return this.appCall(request);
      case JsCalls.appReplyPart.id: {
        const offset = Number(request.args[0]);
        if (offset < 1 || offset >= this.pendingReply.length) return fail(Errno.INVAL);
        const part = this.pendingReply.subarray(offset, offset + request.replyLimit);
        request.data.set(part);
        return { errno: Errno.SUCCESS, replyLength: part.length };
      }
      default:
        return fail(Errno.INVAL);
    }
  }

  /** The QE and the network relay are the platform thread's; the host only relays, as it would to a real QE. */
  private relay(mailbox: SharedArrayBuffer, op: number, data: Uint8Array, request: Request): Response {
    return this.relayed(mailboxCall(mailbox, op, data), request);
  }

  private relayed(reply: MailboxReply, request: Request): Response {
    if (reply.status !== 0) return fail(Errno.INVAL);
    if (reply.data.length > request.replyLimit) return fail(Errno.IO);
    request.data.set(reply.data);
    return { errno: Errno.SUCCESS, replyLength: reply.data.length };
  }

  private appendPart(request: Request): boolean {
    const limit = 2 + MAX_HOST_CALL_NAME + this.options.maxMessageBytes;
    if (
      request.args[0] !== BigInt(this.requestLength) ||
      this.requestLength + request.payload.length > limit
    ) {
      this.requestParts = [];
      this.requestLength = 0;
      return false;
    }
    this.requestParts.push(request.payload);
    this.requestLength += request.payload.length;
    return true;
  }

  private appCall(request: Request): Response | Promise<Response> {
    const ok =
      this.appendPart({ ...request, args: [BigInt(this.requestLength)] }) &&
      request.args[0] === BigInt(this.requestLength);
    const whole = Buffer.concat(this.requestParts);
    this.requestParts = [];
    this.requestLength = 0;
    if (!ok || whole.length < 2) return fail(Errno.INVAL);
    const nameLength = whole.readUInt16LE(0);
    if (nameLength === 0 || 2 + nameLength > whole.length) return fail(Errno.INVAL);
    const name = utf8Lossy.decode(whole.subarray(2, 2 + nameLength));
    const data = new Uint8Array(whole.subarray(2 + nameLength));
    const handler = this.options.handlers.get(name);
    if (!handler)
      return this.appReply(utf8.encode(`no host handler named ${name}`), HostCallOutcome.ERROR, request);
    const failed = (error: unknown): Response =>
      this.appReply(
        utf8.encode(error instanceof Error ? error.message : String(error)),
        HostCallOutcome.ERROR,
        request,
      );
    const done = (reply: Uint8Array): Response => {
      if (!(reply instanceof Uint8Array))
        return failed(new TypeError(`host handler ${name} must return a Uint8Array`));
      if (reply.length > this.options.maxMessageBytes)
        return failed(
          new RangeError(`host handler ${name} replied ${reply.length} bytes, more than the message limit`),
        );
      return this.appReply(reply, HostCallOutcome.OK, request);
    };
    try {
      const result = handler(data);
      return result instanceof Promise ? result.then(done, failed) : done(result);
    } catch (error) {
      return failed(error);
    }
  }

  private appReply(bytes: Uint8Array, outcome: number, request: Request): Response {
    const reply = new Uint8Array(1 + bytes.length);
    reply[0] = outcome;
    reply.set(bytes, 1);
    this.pendingReply = reply;
    const first = reply.subarray(0, request.replyLimit);
    request.data.set(first);
    return { errno: Errno.SUCCESS, result: BigInt(reply.length), replyLength: first.length };
  }
}
