/**
 * A WireGuard interface without I/O: the embedder hands it datagrams from the outside
 * (`receive`), IP packets from the inside (`send`) and clock ticks (`tick`); it hands back
 * datagrams to transmit and authenticated IP packets to deliver. Everything that is not a valid,
 * authenticated, fresh message is dropped and counted in `stats`, by reason.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { TAG_LEN, dh, encodeKey } from './crypto.ts';
import { MacChecker, MacStamper, endpointBytes } from './cookie.ts';
import { Keypair } from './keypair.ts';
import { SourceRateLimiter } from './ratelimit.ts';
import {
  MSG_COOKIE_REPLY,
  MSG_INITIATION,
  MSG_RESPONSE,
  MSG_TRANSPORT,
  TRANSPORT_HEADER,
  messageType,
  putU32le,
  u32le,
} from './messages.ts';
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  identity,
  laterTimestamp,
  randomIndex,
  tai64n,
} from './noise.ts';
import type { Identity, InitiatorState } from './noise.ts';
import {
  INITIATION_MIN_INTERVAL,
  KEEPALIVE_TIMEOUT,
  REJECT_AFTER_MESSAGES,
  REJECT_AFTER_TIME,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME,
  REKEY_ATTEMPT_TIME,
  REKEY_TIMEOUT,
} from './timers.ts';
import { cidrContains } from '../ipv4.ts';
import type { Cidr4 } from '../ipv4.ts';

/** Where a datagram came from or goes to, on the outside (the host's UDP socket). */
export interface Endpoint {
  address: string;
  port: number;
}

export interface WireGuardClock {
  /** Monotonic milliseconds: every timer runs on it. */
  nowMs(): number;
  /** Wall-clock milliseconds since the epoch: only for the handshake's TAI64N timestamp. */
  wallMs(): number;
}

export interface PeerConfig {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  endpoint?: Endpoint;
  allowedIPs: Cidr4[];
  /** Seconds between keepalives sent even when idle (0 or absent: off). */
  persistentKeepalive?: number;
}

export interface DeviceOptions {
  privateKey: Uint8Array;
  clock: WireGuardClock;
  transmit(datagram: Uint8Array, to: Endpoint): void;
  /** An authenticated inner packet, and the sending peer's public key (base64, as wg prints it). */
  deliver(packet: Uint8Array, peerKey: string): void;
  /** Handshake messages per second above which mac2 (a cookie) is demanded. Default 32. */
  loadThreshold?: number;
}

export interface PeerInfo {
  publicKey: string;
  endpoint: Endpoint | undefined;
  lastHandshakeMs: number | undefined;
  rxBytes: number;
  txBytes: number;
}

const DROP_REASONS = [
  'malformed',
  'badMac1',
  'cookieRequired',
  'rateLimited',
  'badHandshake',
  'unknownPeer',
  'staleTimestamp',
  'handshakeRate',
  'unexpectedResponse',
  'badCookieReply',
  'unknownIndex',
  'expiredSession',
  'badAuth',
  'replay',
  'badInnerPacket',
  'notAllowedSource',
  'noRoute',
  'queueOverflow',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export interface DeviceStats {
  dropped: Record<DropReason, number>;
  handshakesInitiated: number;
  handshakesCompleted: number;
  cookieRepliesSent: number;
  cookieRepliesAccepted: number;
  keepalivesSent: number;
  keepalivesReceived: number;
  transportSent: number;
  transportReceived: number;
}

/** Packets queued per peer while a handshake is under way. */
const QUEUE_LIMIT = 1024;
const NO_PSK = new Uint8Array(32);
/** The high 32 bits of the largest counter that is a safe integer (2^53 - 1). */
const MAX_SAFE_COUNTER_HIGH = 0x1fffff;

interface Handshake {
  state: InitiatorState;
  sentMs: number;
  startedMs: number;
}

class Peer {
  readonly stamper: MacStamper;
  readonly keyText: string;
  endpoint: Endpoint | undefined;
  current: Keypair | undefined;
  previous: Keypair | undefined;
  /** A responder's new session, used for sending only once the initiator has used it. */
  next: Keypair | undefined;
  handshake: Handshake | undefined;
  lastInitiationMs = -Infinity;
  lastTimestamp: Uint8Array | undefined;
  lastHandshakeMs: number | undefined;
  lastSentMs = -Infinity;
  lastReceivedMs = -Infinity;
  lastDataSentMs = -Infinity;
  lastDataReceivedMs = -Infinity;
  /** Data came in and nothing has gone out since: a keepalive is owed after KEEPALIVE_TIMEOUT. */
  keepaliveOwed = false;
  queue: Uint8Array[] = [];
  rxBytes = 0;
  txBytes = 0;

  constructor(readonly config: PeerConfig) {
    this.stamper = new MacStamper(config.publicKey);
    this.keyText = encodeKey(config.publicKey);
    this.endpoint = config.endpoint;
  }

  #staticShared: Uint8Array | undefined;

  /** DH(our static, the peer's static), computed on first use: it never changes. */
  staticShared(local: Identity): Uint8Array | undefined {
    this.#staticShared ??= dh(local.privateKey, this.config.publicKey);
    return this.#staticShared;
  }

  get psk(): Uint8Array {
    return this.config.presharedKey ?? NO_PSK;
  }

  info(): PeerInfo {
    return {
      publicKey: this.keyText,
      endpoint: this.endpoint,
      lastHandshakeMs: this.lastHandshakeMs,
      rxBytes: this.rxBytes,
      txBytes: this.txBytes,
    };
  }
}

type IndexEntry = { peer: Peer; keypair?: Keypair; handshake?: Handshake };

export class WireGuardDevice {
  readonly #identity: Identity;
  readonly #clock: WireGuardClock;
  readonly #options: DeviceOptions;
  readonly #checker: MacChecker;
  readonly #limiter = new SourceRateLimiter();
  readonly #peers = new Map<string, Peer>();
  readonly #indices = new Map<number, IndexEntry>();
  readonly #loadThreshold: number;
  #loadWindowStart = 0;
  #loadCount = 0;
  readonly stats: DeviceStats = {
    dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
    handshakesInitiated: 0,
    handshakesCompleted: 0,
    cookieRepliesSent: 0,
    cookieRepliesAccepted: 0,
    keepalivesSent: 0,
    keepalivesReceived: 0,
    transportSent: 0,
    transportReceived: 0,
  };

  constructor(options: DeviceOptions) {
    this.#identity = identity(options.privateKey);
    this.#clock = options.clock;
    this.#options = options;
    this.#checker = new MacChecker(this.#identity.publicKey, options.clock.nowMs());
    this.#loadThreshold = options.loadThreshold ?? 32;
  }

  get publicKey(): Uint8Array {
    return this.#identity.publicKey;
  }

  addPeer(config: PeerConfig): void {
    const peer = new Peer(config);
    if (this.#peers.has(peer.keyText)) throw new Error(`wireguard: peer ${peer.keyText} is configured twice`);
    this.#peers.set(peer.keyText, peer);
  }

  peers(): PeerInfo[] {
    return [...this.#peers.values()].map((p) => p.info());
  }

  /** Total datagrams dropped, all reasons together. */
  droppedTotal(): number {
    return Object.values(this.stats.dropped).reduce((a, b) => a + b, 0);
  }

  /** One datagram from the outside. */
  receive(datagram: Uint8Array, from: Endpoint): void {
    switch (messageType(datagram)) {
      case MSG_INITIATION:
        return this.#receiveInitiation(datagram, from);
      case MSG_RESPONSE:
        return this.#receiveResponse(datagram, from);
      case MSG_COOKIE_REPLY:
        return this.#receiveCookieReply(datagram);
      case MSG_TRANSPORT:
        return this.#receiveTransport(datagram, from);
      default:
        return this.#drop('malformed');
    }
  }

  /** One IP packet from the inside, routed to the peer whose AllowedIPs hold its destination. */
  send(packet: Uint8Array): boolean {
    if (packet.length < 20 || packet[0]! >> 4 !== 4) return (this.#drop('badInnerPacket'), false);
    const dst = u32be(packet, 16);
    const peer = this.#route(dst);
    if (!peer) return (this.#drop('noRoute'), false);
    const now = this.#clock.nowMs();
    const kp = peer.current;
    if (kp && peer.endpoint && this.#usable(kp, now)) {
      this.#sendTransport(peer, kp, packet, now);
      peer.lastDataSentMs = now;
      if (kp.isInitiator && (kp.ageMs(now) >= REKEY_AFTER_TIME || kp.sendCounter >= REKEY_AFTER_MESSAGES))
        this.#initiate(peer, now);
      return true;
    }
    if (peer.queue.length >= QUEUE_LIMIT) {
      peer.queue.shift();
      this.#drop('queueOverflow');
    }
    peer.queue.push(packet.slice());
    this.#initiate(peer, now);
    return true;
  }

  /** Runs the timers: handshake retries, keepalives, rekeying on silence, session expiry. */
  tick(): void {
    const now = this.#clock.nowMs();
    for (const peer of this.#peers.values()) {
      const hs = peer.handshake;
      if (hs && now - hs.sentMs >= REKEY_TIMEOUT) {
        if (now - hs.startedMs >= REKEY_ATTEMPT_TIME) {
          this.#endHandshake(peer);
          peer.queue = [];
        } else {
          this.#sendInitiation(peer, now, hs.startedMs);
        }
      }
      const kp = peer.current && this.#usable(peer.current, now) ? peer.current : undefined;
      if (kp && peer.keepaliveOwed && now - peer.lastDataReceivedMs >= KEEPALIVE_TIMEOUT)
        this.#sendKeepalive(peer, kp, now);
      if (
        peer.lastDataSentMs > peer.lastReceivedMs &&
        now - peer.lastDataSentMs >= KEEPALIVE_TIMEOUT + REKEY_TIMEOUT &&
        !peer.handshake
      ) {
        peer.lastDataSentMs = -Infinity; // one new handshake per silence
        this.#initiate(peer, now);
      }
      const interval = (peer.config.persistentKeepalive ?? 0) * 1000;
      if (interval > 0 && peer.endpoint && now - peer.lastSentMs >= interval) {
        if (kp) this.#sendKeepalive(peer, kp, now);
        else this.#initiate(peer, now);
      }
      this.#expire(peer, now);
    }
  }

  // ---------------------------------------------------------------- handshake

  #initiate(peer: Peer, now: number): void {
    if (peer.handshake || !peer.endpoint) return;
    this.#sendInitiation(peer, now, now);
  }

  #sendInitiation(peer: Peer, now: number, startedMs: number): void {
    this.#endHandshake(peer);
    if (!peer.endpoint) return;
    const index = this.#newIndex();
    const made = createInitiation(
      this.#identity,
      peer.config.publicKey,
      index,
      tai64n(this.#clock.wallMs()),
      peer.staticShared(this.#identity),
    );
    if (!made) return;
    peer.stamper.stamp(made.message, now);
    const hs: Handshake = { state: made.state, sentMs: now, startedMs };
    peer.handshake = hs;
    this.#indices.set(index, { peer, handshake: hs });
    this.stats.handshakesInitiated++;
    this.#transmit(peer, made.message, now);
  }

  #endHandshake(peer: Peer): void {
    if (peer.handshake) this.#indices.delete(peer.handshake.state.localIndex);
    peer.handshake = undefined;
  }

  /** mac1, then under load mac2 (or a cookie reply): before any Diffie-Hellman is spent. */
  #admitHandshake(message: Uint8Array, from: Endpoint, now: number): boolean {
    if (!this.#checker.checkMac1(message)) return (this.#drop('badMac1'), false);
    if (!this.#underLoad(now)) return true;
    const source = endpointBytes(from.address, from.port);
    if (this.#checker.checkMac2(message, source, now)) {
      if (this.#limiter.allow(from.address, now)) return true;
      return (this.#drop('rateLimited'), false);
    }
    this.#drop('cookieRequired');
    this.stats.cookieRepliesSent++;
    this.#options.transmit(this.#checker.cookieReply(message, source, now), from);
    return false;
  }

  #underLoad(now: number): boolean {
    if (now - this.#loadWindowStart >= 1000) {
      this.#loadWindowStart = now;
      this.#loadCount = 0;
    }
    this.#loadCount++;
    return this.#loadCount > this.#loadThreshold;
  }

  #receiveInitiation(message: Uint8Array, from: Endpoint): void {
    const now = this.#clock.nowMs();
    if (!this.#admitHandshake(message, from, now)) return;
    const init = consumeInitiation(this.#identity, message, (key) =>
      this.#peers.get(encodeKey(key))?.staticShared(this.#identity),
    );
    if (!init) return this.#drop('badHandshake');
    const peer = this.#peers.get(encodeKey(init.peerStatic));
    if (!peer) return this.#drop('unknownPeer');
    if (!laterTimestamp(init.timestamp, peer.lastTimestamp)) return this.#drop('staleTimestamp');
    if (now - peer.lastInitiationMs < INITIATION_MIN_INTERVAL) return this.#drop('handshakeRate');
    peer.lastTimestamp = init.timestamp;
    peer.lastInitiationMs = now;
    const index = this.#newIndex();
    const made = createResponse(init, peer.psk, index);
    if (!made) return this.#drop('badHandshake');
    peer.endpoint = from;
    const kp = new Keypair(made.keys, index, init.senderIndex, now, false);
    this.#retire(peer.next);
    peer.next = kp;
    this.#indices.set(index, { peer, keypair: kp });
    peer.lastHandshakeMs = now;
    peer.lastReceivedMs = now;
    peer.stamper.stamp(made.message, now);
    this.#transmit(peer, made.message, now);
  }

  #receiveResponse(message: Uint8Array, from: Endpoint): void {
    const now = this.#clock.nowMs();
    if (!this.#admitHandshake(message, from, now)) return;
    const entry = this.#indices.get(u32le(message, 8));
    const hs = entry?.handshake;
    if (!entry || !hs || entry.peer.handshake !== hs) return this.#drop('unexpectedResponse');
    const peer = entry.peer;
    const keys = consumeResponse(hs.state, this.#identity, peer.psk, message);
    if (!keys) return this.#drop('badHandshake');
    this.#indices.delete(hs.state.localIndex);
    peer.handshake = undefined;
    const kp = new Keypair(keys, hs.state.localIndex, u32le(message, 4), now, true);
    this.#indices.set(kp.localIndex, { peer, keypair: kp });
    this.#retire(peer.previous);
    this.#retire(peer.next);
    peer.next = undefined;
    peer.previous = peer.current;
    peer.current = kp;
    peer.endpoint = from;
    peer.lastHandshakeMs = now;
    peer.lastReceivedMs = now;
    this.stats.handshakesCompleted++;
    const queued = peer.queue;
    peer.queue = [];
    for (const packet of queued) this.#sendTransport(peer, kp, packet, now);
    if (queued.length === 0) this.#sendKeepalive(peer, kp, now); // confirms the session to the responder
  }

  #receiveCookieReply(message: Uint8Array): void {
    const now = this.#clock.nowMs();
    const entry = this.#indices.get(u32le(message, 4));
    if (!entry) return this.#drop('unknownIndex');
    if (!entry.peer.stamper.consumeCookieReply(message, now)) return this.#drop('badCookieReply');
    this.stats.cookieRepliesAccepted++;
  }

  // ---------------------------------------------------------------- transport

  #receiveTransport(message: Uint8Array, from: Endpoint): void {
    const now = this.#clock.nowMs();
    const entry = this.#indices.get(u32le(message, 4));
    const kp = entry?.keypair;
    if (!entry || !kp) return this.#drop('unknownIndex');
    const peer = entry.peer;
    if (kp.ageMs(now) >= REJECT_AFTER_TIME) return this.#drop('expiredSession');
    const high = u32le(message, 12);
    if (high > MAX_SAFE_COUNTER_HIGH) return this.#drop('replay');
    const counter = high * 2 ** 32 + u32le(message, 8);
    const plaintext = openTransport(kp.recv, message);
    if (!plaintext) return this.#drop('badAuth');
    if (!kp.replay.accept(counter, REJECT_AFTER_MESSAGES)) return this.#drop('replay');
    if (kp === peer.next) {
      this.#retire(peer.previous);
      peer.previous = peer.current;
      peer.current = kp;
      peer.next = undefined;
      this.stats.handshakesCompleted++;
      const queued = peer.queue;
      peer.queue = [];
      for (const packet of queued) this.#sendTransport(peer, kp, packet, now);
    }
    peer.endpoint = from; // roaming: authenticated packets move the endpoint
    peer.lastReceivedMs = now;
    this.stats.transportReceived++;
    peer.rxBytes += message.length;
    if (plaintext.length === 0) {
      this.stats.keepalivesReceived++;
      return;
    }
    const inner = this.#innerPacket(plaintext, peer);
    if (!inner) return;
    peer.lastDataReceivedMs = now;
    peer.keepaliveOwed = true;
    this.#options.deliver(inner, peer.keyText);
    if (
      kp === peer.current &&
      kp.isInitiator &&
      kp.ageMs(now) >= REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT
    )
      this.#initiate(peer, now);
  }

  /** The IPv4 packet inside a decrypted payload, without padding, if its source is the peer's. */
  #innerPacket(plaintext: Uint8Array, peer: Peer): Uint8Array | undefined {
    if (plaintext.length < 20 || plaintext[0]! >> 4 !== 4) return (this.#drop('badInnerPacket'), undefined);
    const total = (plaintext[2]! << 8) | plaintext[3]!;
    if (total < 20 || total > plaintext.length) return (this.#drop('badInnerPacket'), undefined);
    const src = u32be(plaintext, 12);
    for (const cidr of peer.config.allowedIPs)
      if (cidrContains(cidr, src)) return plaintext.subarray(0, total);
    return (this.#drop('notAllowedSource'), undefined);
  }

  #sendTransport(peer: Peer, kp: Keypair, packet: Uint8Array, now: number): void {
    const counter = kp.sendCounter++;
    const message = sealTransport(kp.send, kp.remoteIndex, counter, packet);
    this.stats.transportSent++;
    this.#transmit(peer, message, now);
  }

  #sendKeepalive(peer: Peer, kp: Keypair, now: number): void {
    this.stats.keepalivesSent++;
    this.#sendTransport(peer, kp, EMPTY_PACKET, now);
  }

  #transmit(peer: Peer, datagram: Uint8Array, now: number): void {
    if (!peer.endpoint) return;
    peer.lastSentMs = now;
    peer.keepaliveOwed = false;
    peer.txBytes += datagram.length;
    this.#options.transmit(datagram, peer.endpoint);
  }

  // ---------------------------------------------------------------- bookkeeping

  #usable(kp: Keypair, now: number): boolean {
    return kp.ageMs(now) < REJECT_AFTER_TIME && kp.sendCounter < REJECT_AFTER_MESSAGES;
  }

  #expire(peer: Peer, now: number): void {
    for (const slot of ['current', 'previous', 'next'] as const) {
      const kp = peer[slot];
      if (kp && kp.ageMs(now) >= REJECT_AFTER_TIME * (slot === 'next' ? 1 : 3)) {
        this.#retire(kp);
        peer[slot] = undefined;
      }
    }
  }

  #retire(kp: Keypair | undefined): void {
    if (!kp) return;
    this.#indices.delete(kp.localIndex);
    kp.wipe();
  }

  #route(dst: number): Peer | undefined {
    let best: Peer | undefined;
    let bestPrefix = -1;
    for (const peer of this.#peers.values())
      for (const cidr of peer.config.allowedIPs)
        if (cidr.prefix > bestPrefix && cidrContains(cidr, dst)) {
          best = peer;
          bestPrefix = cidr.prefix;
        }
    return best;
  }

  #newIndex(): number {
    for (;;) {
      const index = randomIndex();
      if (!this.#indices.has(index)) return index;
    }
  }

  #drop(reason: DropReason): void {
    this.stats.dropped[reason]++;
  }
}

const EMPTY_PACKET = new Uint8Array(0);

/** A big-endian 32-bit field of an IP header. */
function u32be(d: Uint8Array, at: number): number {
  return ((d[at]! << 24) | (d[at + 1]! << 16) | (d[at + 2]! << 8) | d[at + 3]!) >>> 0;
}

// createCipheriv and createDecipheriv copy the nonce and read the options: one of each serves every call.
const sealNonce = new Uint8Array(12);
const openNonce = new Uint8Array(12);
const AEAD_OPTIONS = { authTagLength: TAG_LEN } as const;

/** The message's counter field (bytes 8..15) into the nonce's last 8 bytes, without a view per packet. */
function counterIntoNonce(message: Uint8Array, nonce: Uint8Array): void {
  for (let i = 0; i < 8; i++) nonce[4 + i] = message[8 + i]!;
}

/** Where a packet is padded before sealing: one cipher update per packet, no allocation for it. */
const padScratch = new Uint8Array(65536 + 16);

/**
 * Transport messages are cut from shared blocks: a typed array of more than a few dozen bytes gets
 * memory of its own outside the JavaScript heap, costly to make and to collect, and a tunnel makes
 * one per packet. A block is dropped when full; it is freed once no message cut from it is kept.
 */
const BLOCK_BYTES = 256 * 1024;
let block = new Uint8Array(BLOCK_BYTES);
let blockUsed = 0;

function messageBuffer(size: number): Uint8Array {
  if (blockUsed + size > block.length) {
    block = new Uint8Array(Math.max(BLOCK_BYTES, size));
    blockUsed = 0;
  }
  const out = block.subarray(blockUsed, blockUsed + size);
  blockUsed += (size + 7) & ~7;
  return out;
}

/** A transport message: header, then the packet padded to 16 bytes, sealed under the counter. */
export function sealTransport(
  key: Uint8Array,
  receiver: number,
  counter: number,
  packet: Uint8Array,
): Uint8Array {
  const padded = (packet.length + 15) & ~15;
  const out = messageBuffer(TRANSPORT_HEADER + padded + TAG_LEN);
  out[0] = MSG_TRANSPORT;
  out[1] = out[2] = out[3] = 0;
  putU32le(out, 4, receiver);
  // The 64-bit little-endian counter (a safe integer: at most 2^53 - 1) is also the nonce's tail.
  putU32le(out, 8, counter >>> 0);
  putU32le(out, 12, Math.floor(counter / 2 ** 32));
  counterIntoNonce(out, sealNonce);
  const cipher = createCipheriv('chacha20-poly1305', key, sealNonce, AEAD_OPTIONS);
  let plaintext = packet;
  if (padded > packet.length) {
    padScratch.set(packet);
    padScratch.fill(0, packet.length, padded);
    plaintext = padScratch.subarray(0, padded);
  }
  // ChaCha20 is a stream cipher: update returns every byte, final none.
  out.set(cipher.update(plaintext), TRANSPORT_HEADER);
  cipher.final();
  out.set(cipher.getAuthTag(), TRANSPORT_HEADER + padded);
  return out;
}

/** The decrypted (padded) payload of a transport message, or undefined when it does not authenticate. */
export function openTransport(key: Uint8Array, message: Uint8Array): Uint8Array | undefined {
  counterIntoNonce(message, openNonce);
  const end = message.length - TAG_LEN;
  const decipher = createDecipheriv('chacha20-poly1305', key, openNonce, AEAD_OPTIONS);
  decipher.setAuthTag(message.subarray(end));
  const body = decipher.update(message.subarray(TRANSPORT_HEADER, end));
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return body; // a Buffer of its own: a Uint8Array already, no view on top needed
}
