/**
 * The pieces every entry of `calls.ts` is built from: how a call's arguments travel (up to
 * `ARG_COUNT` 64-bit scalars and a payload) and how its reply does (a scalar result and reply
 * bytes). One codec serves both ends: the enclave encodes arguments and decodes replies, the host
 * decodes arguments and encodes replies. Decoders throw `WireError` on anything malformed; the
 * enclave turns that into EIO, the host into EINVAL.
 */
import { WireError, decodeStat, decodeUtf8, encodeStat, encodeUtf8, STAT_BYTES } from './codec.ts';
import { ARG_COUNT } from './ring.ts';
import type { HostStat } from './services.ts';

/** A call's arguments as they sit in a slot. */
export interface WireArgs {
  readonly args: readonly bigint[];
  readonly payload?: Uint8Array;
}

export interface ArgCodec<A> {
  encode(a: A): WireArgs;
  decode(args: readonly bigint[], payload: Uint8Array): A;
}

/** A reply as the host publishes it. */
export interface ReplyWire {
  result?: bigint;
  /** Reply bytes written at the start of the slot's buffer. */
  length?: number;
}

/**
 * A call's reply: `H` is what the host's handler returns, `R` what the enclave's stub returns.
 * They differ where the handler writes bytes straight into the slot (`H` = the count written).
 */
export interface ReplyCodec<A, H, R> {
  /** The most reply bytes the enclave accepts for these arguments. */
  limit(a: A): number;
  /** Host: publishes `h`; `out` is the slot's buffer cut to the enclave's limit. */
  encode(h: H, out: Uint8Array): ReplyWire;
  /** Enclave: the checked result and a private copy of the reply bytes. */
  decode(result: bigint, data: Uint8Array, a: A): R;
}

/** One scalar argument. */
export interface Scalar<T> {
  encode(v: T): bigint;
  decode(v: bigint): T;
}

/** One payload argument. */
export interface Payload<T> {
  encode(v: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** Handles, indexes, counts, lengths and flag sets: 0 to 2^32 - 1. */
export const u32: Scalar<number> = {
  encode: (v) => BigInt(v),
  decode: (v) => {
    if (v < 0n || v > 0xffff_ffffn) throw new WireError(`argument ${v} out of range`);
    return Number(v);
  },
};

/** Offsets, sizes and times, passed as they are. */
export const i64: Scalar<bigint> = { encode: (v) => v, decode: (v) => v };

/** A time in ns since the epoch, or null (-1 on the wire) to leave it unchanged. */
export const timeOrKeep: Scalar<bigint | null> = {
  encode: (v) => v ?? -1n,
  decode: (v) => (v < 0n ? null : v),
};

export const flag: Scalar<boolean> = {
  encode: (v) => (v ? 1n : 0n),
  decode: (v) => {
    if (v !== 0n && v !== 1n) throw new WireError(`flag ${v}`);
    return v === 1n;
  },
};

/** A UTF-8 string payload. */
export const text: Payload<string> = { encode: encodeUtf8, decode: decodeUtf8 };

/** Bytes as they are (on the host, a view of the slot: used before the reply is written). */
export const bytes: Payload<Uint8Array> = { encode: (v) => v, decode: (v) => v };

/** Any scalar codec, whatever its value type. */
type AnyScalar = { encode(v: never): bigint; decode(v: bigint): unknown };
type ScalarValues<S> = { [K in keyof S]: S[K] extends Scalar<infer T> ? T : never };

/** Named scalar arguments, in the order given, and optionally a named payload. */
export function args<S extends Record<string, AnyScalar>>(scalars: S): ArgCodec<ScalarValues<S>>;
export function args<S extends Record<string, AnyScalar>, K extends string, P>(
  scalars: S,
  payloadName: K,
  payload: Payload<P>,
): ArgCodec<ScalarValues<S> & Record<K, P>>;
export function args(
  scalars: Record<string, Scalar<unknown>>,
  payloadName?: string,
  payload?: Payload<unknown>,
): ArgCodec<Record<string, unknown>> {
  const names = Object.keys(scalars);
  if (names.length > ARG_COUNT) throw new Error(`a call takes at most ${ARG_COUNT} scalar arguments`);
  return {
    encode: (a) => ({
      args: names.map((n) => scalars[n].encode(a[n])),
      payload: payloadName === undefined ? undefined : payload?.encode(a[payloadName]),
    }),
    decode: (raw, data) => {
      const a: Record<string, unknown> = {};
      for (const [i, n] of names.entries()) a[n] = scalars[n].decode(raw[i] ?? 0n);
      if (payloadName !== undefined && payload) a[payloadName] = payload.decode(data);
      return a;
    },
  };
}

/** Nothing back but success. */
export const noReply: ReplyCodec<unknown, void, void> = {
  limit: () => 0,
  encode: () => ({}),
  decode: () => undefined,
};

/** A 64-bit result. */
export const scalarReply: ReplyCodec<unknown, bigint, bigint> = {
  limit: () => 0,
  encode: (result) => ({ result }),
  decode: (result) => result,
};

/** A count (bytes written, a size): 0 to 2^53 - 1. */
export const countReply: ReplyCodec<unknown, number, number> = {
  limit: () => 0,
  encode: (n) => ({ result: BigInt(n) }),
  decode: (result) => {
    if (result < 0n || result > BigInt(Number.MAX_SAFE_INTEGER)) throw new WireError(`count ${result}`);
    return Number(result);
  },
};

export const flagReply: ReplyCodec<unknown, boolean, boolean> = {
  limit: () => 0,
  encode: (v) => ({ result: v ? 1n : 0n }),
  decode: (result) => flag.decode(result),
};

/** Largest handle the enclave accepts: handles are positive i32s, never reused. */
const MAX_HANDLE = 0x7fff_ffff;

/** A host handle (file or directory), 1 to `MAX_HANDLE`. */
export const handleReply: ReplyCodec<unknown, number, number> = {
  limit: () => 0,
  encode: (handle) => ({ result: BigInt(handle) }),
  decode: (result) => {
    if (result <= 0n || result > BigInt(MAX_HANDLE)) throw new WireError(`handle ${result}`);
    return Number(result);
  },
};

/**
 * Bytes the handler writes straight into the slot (it returns how many), at most `limit(a)`: the
 * enclave gets its private copy.
 */
export function bytesReply<A>(limit: (a: A) => number): ReplyCodec<A, number, Uint8Array> {
  return {
    limit,
    encode: (length, out) => {
      if (length > out.length) throw new RangeError('reply larger than the limit');
      return { length };
    },
    decode: (_result, data) => data,
  };
}

/** Bytes a handler has in hand (a relayed reply, a link target), copied into the slot. */
export function copiedReply<A>(limit: (a: A) => number): ReplyCodec<A, Uint8Array, Uint8Array> {
  return {
    limit,
    encode: (reply, out) => {
      const length = Math.min(reply.length, out.length);
      out.set(reply.subarray(0, length));
      return { length };
    },
    decode: (_result, data) => data,
  };
}

export const statReply: ReplyCodec<unknown, HostStat, HostStat> = {
  limit: () => STAT_BYTES,
  encode: (stat, out) => ({ length: encodeStat(stat, out.subarray(0, STAT_BYTES)) }),
  decode: (_result, data) => decodeStat(data),
};
