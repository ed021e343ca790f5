/**
 * The Noise_IKpsk2 handshake as WireGuard runs it (whitepaper §5.4.2-5.4.5): building and consuming
 * the initiation and the response, and deriving the transport keys. mac1/mac2 are filled in by
 * cookie.ts afterwards; this module leaves them zero and never reads them.
 */
import { randomBytes } from 'node:crypto';
import {
  EMPTY,
  aeadOpen,
  aeadSeal,
  counterNonce,
  dh,
  equalBytes,
  generatePrivateKey,
  hash,
  kdf,
  publicKey,
} from './crypto.ts';
import { INITIATION_SIZE, MSG_INITIATION, MSG_RESPONSE, RESPONSE_SIZE, putU32le, u32le } from './messages.ts';

const enc = new TextEncoder();
const CONSTRUCTION = enc.encode('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
const IDENTIFIER = enc.encode('WireGuard v1 zx2c4 Jason@zx2c4.com');
const INITIAL_CHAIN_KEY = hash(CONSTRUCTION);
const INITIAL_HASH = hash(INITIAL_CHAIN_KEY, IDENTIFIER);
const ZERO_NONCE = counterNonce(0);

export interface Identity {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

export function identity(privateKey: Uint8Array): Identity {
  return { privateKey, publicKey: publicKey(privateKey) };
}

/** Transport keys of one completed handshake. */
export interface TransportKeys {
  send: Uint8Array;
  recv: Uint8Array;
}

/** What an initiator keeps between sending the initiation and receiving the response. */
export interface InitiatorState {
  localIndex: number;
  chainKey: Uint8Array;
  hash: Uint8Array;
  ephemeralPrivate: Uint8Array;
}

/** What a responder learned from a valid initiation. */
export interface ConsumedInitiation {
  senderIndex: number;
  peerStatic: Uint8Array;
  /** TAI64N, 12 bytes: later initiations must carry a greater one. */
  timestamp: Uint8Array;
  chainKey: Uint8Array;
  hash: Uint8Array;
  peerEphemeral: Uint8Array;
}

/** TAI64N of a wall-clock time in milliseconds. */
export function tai64n(wallMs: number): Uint8Array {
  const t = new Uint8Array(12);
  const v = new DataView(t.buffer);
  const seconds = Math.floor(wallMs / 1000);
  v.setBigUint64(0, 0x4000000000000000n + BigInt(seconds), false);
  v.setUint32(8, Math.floor(wallMs % 1000) * 1_000_000, false);
  return t;
}

/**
 * `staticShared` is DH(local static, peer static), the same for every handshake with this peer: the
 * caller may compute it once (it is checked like any DH result).
 */
export function createInitiation(
  local: Identity,
  peerPublic: Uint8Array,
  localIndex: number,
  timestamp: Uint8Array,
  staticShared?: Uint8Array,
): { message: Uint8Array; state: InitiatorState } | undefined {
  const msg = new Uint8Array(INITIATION_SIZE);
  msg[0] = MSG_INITIATION;
  putU32le(msg, 4, localIndex);
  let h = hash(INITIAL_HASH, peerPublic);
  const ephemeralPrivate = generatePrivateKey();
  const ephemeralPublic = publicKey(ephemeralPrivate);
  let [c] = kdf(1, INITIAL_CHAIN_KEY, ephemeralPublic) as [Uint8Array];
  msg.set(ephemeralPublic, 8);
  h = hash(h, ephemeralPublic);
  const es = dh(ephemeralPrivate, peerPublic);
  if (!es) return undefined;
  let k: Uint8Array;
  [c, k] = kdf(2, c, es) as [Uint8Array, Uint8Array];
  const encStatic = aeadSeal(k, ZERO_NONCE, local.publicKey, h);
  msg.set(encStatic, 40);
  h = hash(h, encStatic);
  const ss = staticShared ?? dh(local.privateKey, peerPublic);
  if (!ss) return undefined;
  [c, k] = kdf(2, c, ss) as [Uint8Array, Uint8Array];
  const encTimestamp = aeadSeal(k, ZERO_NONCE, timestamp, h);
  msg.set(encTimestamp, 88);
  h = hash(h, encTimestamp);
  return { message: msg, state: { localIndex, chainKey: c, hash: h, ephemeralPrivate } };
}

/**
 * Decrypts an initiation addressed to `local`; undefined when it does not authenticate.
 * `staticSharedFor` may supply DH(local static, peer static) once the peer's key is known.
 */
export function consumeInitiation(
  local: Identity,
  msg: Uint8Array,
  staticSharedFor: (peerStatic: Uint8Array) => Uint8Array | undefined = () => undefined,
): ConsumedInitiation | undefined {
  const peerEphemeral = msg.slice(8, 40);
  let h = hash(INITIAL_HASH, local.publicKey);
  let [c] = kdf(1, INITIAL_CHAIN_KEY, peerEphemeral) as [Uint8Array];
  h = hash(h, peerEphemeral);
  const es = dh(local.privateKey, peerEphemeral);
  if (!es) return undefined;
  let k: Uint8Array;
  [c, k] = kdf(2, c, es) as [Uint8Array, Uint8Array];
  const encStatic = msg.subarray(40, 88);
  const peerStatic = aeadOpen(k, ZERO_NONCE, encStatic, h);
  if (!peerStatic) return undefined;
  h = hash(h, encStatic);
  const ss = staticSharedFor(peerStatic) ?? dh(local.privateKey, peerStatic);
  if (!ss) return undefined;
  [c, k] = kdf(2, c, ss) as [Uint8Array, Uint8Array];
  const encTimestamp = msg.subarray(88, 116);
  const timestamp = aeadOpen(k, ZERO_NONCE, encTimestamp, h);
  if (!timestamp) return undefined;
  h = hash(h, encTimestamp);
  return {
    senderIndex: u32le(msg, 4),
    peerStatic: new Uint8Array(peerStatic),
    timestamp: new Uint8Array(timestamp),
    chainKey: c,
    hash: h,
    peerEphemeral,
  };
}

export function createResponse(
  init: ConsumedInitiation,
  presharedKey: Uint8Array,
  localIndex: number,
): { message: Uint8Array; keys: TransportKeys } | undefined {
  const msg = new Uint8Array(RESPONSE_SIZE);
  msg[0] = MSG_RESPONSE;
  putU32le(msg, 4, localIndex);
  putU32le(msg, 8, init.senderIndex);
  const ephemeralPrivate = generatePrivateKey();
  const ephemeralPublic = publicKey(ephemeralPrivate);
  let [c] = kdf(1, init.chainKey, ephemeralPublic) as [Uint8Array];
  msg.set(ephemeralPublic, 12);
  let h = hash(init.hash, ephemeralPublic);
  const ee = dh(ephemeralPrivate, init.peerEphemeral);
  const se = dh(ephemeralPrivate, init.peerStatic);
  if (!ee || !se) return undefined;
  [c] = kdf(1, c, ee) as [Uint8Array];
  [c] = kdf(1, c, se) as [Uint8Array];
  const [c2, tau, k] = kdf(3, c, presharedKey) as [Uint8Array, Uint8Array, Uint8Array];
  h = hash(h, tau);
  const empty = aeadSeal(k, ZERO_NONCE, EMPTY, h);
  msg.set(empty, 44);
  const [recv, send] = kdf(2, c2, EMPTY) as [Uint8Array, Uint8Array];
  return { message: msg, keys: { send, recv } };
}

/** Completes the initiator's side; undefined when the response does not authenticate. */
export function consumeResponse(
  state: InitiatorState,
  local: Identity,
  presharedKey: Uint8Array,
  msg: Uint8Array,
): TransportKeys | undefined {
  const peerEphemeral = msg.subarray(12, 44);
  let [c] = kdf(1, state.chainKey, peerEphemeral) as [Uint8Array];
  let h = hash(state.hash, peerEphemeral);
  const ee = dh(state.ephemeralPrivate, peerEphemeral);
  const se = dh(local.privateKey, peerEphemeral);
  if (!ee || !se) return undefined;
  [c] = kdf(1, c, ee) as [Uint8Array];
  [c] = kdf(1, c, se) as [Uint8Array];
  const [c2, tau, k] = kdf(3, c, presharedKey) as [Uint8Array, Uint8Array, Uint8Array];
  h = hash(h, tau);
  if (!aeadOpen(k, ZERO_NONCE, msg.subarray(44, 60), h)) return undefined;
  const [send, recv] = kdf(2, c2, EMPTY) as [Uint8Array, Uint8Array];
  return { send, recv };
}

/** A fresh random 32-bit index (the caller makes sure it is not in use). */
export function randomIndex(): number {
  return randomBytes(4).readUInt32LE(0);
}

/** TAI64N comparison: true when `a` is strictly later than `b`. */
export function laterTimestamp(a: Uint8Array, b: Uint8Array | undefined): boolean {
  if (!b) return true;
  if (equalBytes(a, b)) return false;
  for (let i = 0; i < 12; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return false;
}
