/**
 * mac1, mac2 and cookie replies (whitepaper §5.4.4, §5.4.7). mac1 proves the sender knows our public
 * key; under load a responder also demands mac2, keyed with a cookie bound to the sender's address
 * that only its real owner can receive (in a cookie reply), before spending any Diffie-Hellman on it.
 */
import { randomBytes } from 'node:crypto';
import { equalBytes, hash, mac, xaeadOpen, xaeadSeal } from './crypto.ts';
import { COOKIE_REPLY_SIZE, MSG_COOKIE_REPLY, macOffsets, putU32le, u32le } from './messages.ts';

const enc = new TextEncoder();
const LABEL_MAC1 = enc.encode('mac1----');
const LABEL_COOKIE = enc.encode('cookie--');
/** Cookies and their secret live two minutes. */
export const COOKIE_LIFETIME_MS = 120_000;

/** Keys derived from the public key of whoever receives the message. */
export interface MacKeys {
  mac1: Uint8Array;
  cookie: Uint8Array;
}

export function macKeys(receiverPublic: Uint8Array): MacKeys {
  return { mac1: hash(LABEL_MAC1, receiverPublic), cookie: hash(LABEL_COOKIE, receiverPublic) };
}

/** The bytes that stand for an endpoint in a cookie: address then port. */
export function endpointBytes(address: string, port: number): Uint8Array {
  return enc.encode(`${address}\u0000${port}`);
}

/** Sender side: stamps mac1 and (with a fresh cookie) mac2; remembers cookies from replies. */
export class MacStamper {
  readonly #keys: MacKeys;
  #cookie: Uint8Array | undefined;
  #cookieAt = 0;
  #lastMac1: Uint8Array | undefined;

  constructor(receiverPublic: Uint8Array) {
    this.#keys = macKeys(receiverPublic);
  }

  stamp(message: Uint8Array, nowMs: number): void {
    const at = macOffsets(message);
    const mac1 = mac(this.#keys.mac1, message.subarray(0, at.mac1));
    message.set(mac1, at.mac1);
    this.#lastMac1 = mac1;
    if (this.#cookie && nowMs - this.#cookieAt < COOKIE_LIFETIME_MS) {
      message.set(mac(this.#cookie, message.subarray(0, at.mac2)), at.mac2);
    } else {
      message.fill(0, at.mac2);
    }
  }

  /** Takes the cookie of a reply to our last stamped message; false when it does not decrypt. */
  consumeCookieReply(reply: Uint8Array, nowMs: number): boolean {
    if (!this.#lastMac1) return false;
    const cookie = xaeadOpen(
      this.#keys.cookie,
      reply.subarray(8, 32),
      reply.subarray(32, 64),
      this.#lastMac1,
    );
    if (!cookie) return false;
    this.#cookie = new Uint8Array(cookie);
    this.#cookieAt = nowMs;
    return true;
  }
}

/** Receiver side: checks mac1 and mac2, and writes cookie replies. */
export class MacChecker {
  readonly #keys: MacKeys;
  #secret = new Uint8Array(randomBytes(32));
  #secretAt: number;

  constructor(ownPublic: Uint8Array, nowMs: number) {
    this.#keys = macKeys(ownPublic);
    this.#secretAt = nowMs;
  }

  checkMac1(message: Uint8Array): boolean {
    const at = macOffsets(message);
    return equalBytes(mac(this.#keys.mac1, message.subarray(0, at.mac1)), message.subarray(at.mac1, at.mac2));
  }

  checkMac2(message: Uint8Array, source: Uint8Array, nowMs: number): boolean {
    const at = macOffsets(message);
    return equalBytes(
      mac(this.#cookieFor(source, nowMs), message.subarray(0, at.mac2)),
      message.subarray(at.mac2),
    );
  }

  /** A cookie reply to `message` (whose mac1 is valid) from `source`. */
  cookieReply(message: Uint8Array, source: Uint8Array, nowMs: number): Uint8Array {
    const at = macOffsets(message);
    const reply = new Uint8Array(COOKIE_REPLY_SIZE);
    reply[0] = MSG_COOKIE_REPLY;
    putU32le(reply, 4, u32le(message, 4)); // the sender index of the message answered
    const nonce = randomBytes(24);
    reply.set(nonce, 8);
    const sealed = xaeadSeal(
      this.#keys.cookie,
      nonce,
      this.#cookieFor(source, nowMs),
      message.subarray(at.mac1, at.mac2),
    );
    reply.set(sealed, 32);
    return reply;
  }

  #cookieFor(source: Uint8Array, nowMs: number): Uint8Array {
    if (nowMs - this.#secretAt >= COOKIE_LIFETIME_MS) {
      this.#secret = new Uint8Array(randomBytes(32));
      this.#secretAt = nowMs;
    }
    return mac(this.#secret, source);
  }
}
