/**
 * The application's calls to the host (`enclave.host.call(name, bytes)`), over the host-call ring
 * with its checks (ring/channel.ts). Requests and replies larger than a ring slot go in parts; the
 * enclave checks that every part has exactly the length the totals announce, and that the reply
 * stays within the message limit, before it believes any of it.
 */
import { WasiError } from '../../interface/errno.ts';
import { JsAppCalls } from '../../interface/calls.ts';
import { HostCallOutcome, MAX_HOST_CALL_NAME } from '../../interface/js-enclave.ts';
import { SLOT_DATA_BYTES } from '../../interface/ring.ts';
import { HostProtocolError, type HostChannel } from '../ring/channel.ts';
import { hostCall } from '../ring/stubs.ts';

/** A host call failed: the host refused it, its handler failed, or its reply was malformed. */
export class HostCallError extends Error {
  override name = 'HostCallError';
}

const utf8 = new TextEncoder();
const lossyUtf8 = new TextDecoder();
const MAX_ERROR_MESSAGE = 1000;

export class HostCalls {
  /** Set once the host broke the ring protocol: the enclave stops and makes no more host calls. */
  broken: string | undefined;
  /** Errors the app marked as the host's (`host.raised`): uncaught, they do not stop the enclave. */
  readonly raisedByHost = new WeakSet<object>();
  /** Serves the entries the host's handler calls while the enclave waits for it (main.ts). */
  whileWaiting: (() => void) | undefined;

  constructor(
    private readonly channel: HostChannel,
    private readonly maxMessageBytes: number,
  ) {}

  call(name: string, data: Uint8Array): Uint8Array {
    if (this.broken !== undefined) throw new HostCallError(`the enclave has stopped: ${this.broken}`);
    if (typeof name !== 'string' || !(data instanceof Uint8Array)) {
      throw new TypeError('host.call(name: string, data: Uint8Array)');
    }
    const nameBytes = utf8.encode(name);
    if (nameBytes.length === 0 || nameBytes.length > MAX_HOST_CALL_NAME) {
      throw new HostCallError(`host call name must be 1 to ${MAX_HOST_CALL_NAME} bytes`);
    }
    if (data.length > this.maxMessageBytes) {
      throw new HostCallError(
        `host call ${name}: ${data.length} bytes exceed the ${this.maxMessageBytes}-byte message limit`,
      );
    }
    const request = new Uint8Array(2 + nameBytes.length + data.length);
    new DataView(request.buffer).setUint16(0, nameBytes.length, true);
    request.set(nameBytes, 2);
    request.set(data, 2 + nameBytes.length);
    try {
      return this.exchange(name, request);
    } catch (error) {
      if (error instanceof HostProtocolError) this.broken = error.message;
      if (error instanceof WasiError) {
        throw new HostCallError(`host call ${name}: the host refused it (errno ${error.errno})`);
      }
      throw error;
    }
  }

  private exchange(name: string, request: Uint8Array): Uint8Array {
    let offset = 0;
    while (request.length - offset > SLOT_DATA_BYTES) {
      hostCall(this.channel, JsAppCalls.appCallPart, {
        offset,
        part: request.subarray(offset, offset + SLOT_DATA_BYTES),
      });
      offset += SLOT_DATA_BYTES;
    }
    const first = hostCall(
      this.channel,
      JsAppCalls.appCall,
      { length: request.length, part: request.subarray(offset) },
      this.whileWaiting,
    );
    const total = first.length;
    if (total < 1n || total > BigInt(this.maxMessageBytes + 1)) {
      throw new HostCallError(`host call ${name}: the host announced a reply of ${total} bytes`);
    }
    const length = Number(total);
    const reply = new Uint8Array(length);
    let got = 0;
    for (let part = first.first; ;) {
      if (part.length !== Math.min(length - got, SLOT_DATA_BYTES)) {
        throw new HostCallError(
          `host call ${name}: a reply part of ${part.length} bytes does not match the announced length`,
        );
      }
      reply.set(part, got);
      got += part.length;
      if (got === length) break;
      part = hostCall(this.channel, JsAppCalls.appReplyPart, { offset: got });
    }
    if (reply[0] === HostCallOutcome.OK) return reply.subarray(1);
    if (reply[0] === HostCallOutcome.ERROR) {
      const message = lossyUtf8.decode(reply.subarray(1, 1 + MAX_ERROR_MESSAGE));
      throw new HostCallError(`host call ${name} failed on the host: ${message}`);
    }
    throw new HostCallError(`host call ${name}: the host replied with outcome ${reply[0]}`);
  }
}
