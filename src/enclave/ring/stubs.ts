/**
 * The enclave's typed calls to the host, made from the entries of `src/interface/calls.ts`: the
 * stub encodes the arguments with the call's codec, makes the call over the ring (`channel.ts`
 * checks the protocol: sequence, errno allow-list, reply length) and decodes the reply with the
 * same entry's codec. A reply that does not decode is the host's fault: EIO to the caller.
 */
import type { AnyCallDef, ArgsOf, ReplyOf } from '../../interface/calls.ts';
import { WireError } from '../../interface/codec.ts';
import { Errno, WasiError } from '../../interface/errno.ts';
import type { BatchRequest, HostChannel } from './channel.ts';

/** Makes `def`'s call with `a` and waits for its decoded reply. */
export function hostCall<D extends AnyCallDef>(
  channel: Pick<HostChannel, 'call'>,
  def: D,
  a: ArgsOf<D>,
  whileWaiting?: () => void,
): ReplyOf<D> {
  const { args, payload } = def.args.encode(a);
  const reply = channel.call(def, args, payload, def.reply.limit(a), whileWaiting);
  return decodeReply(def, reply.result, reply.data, a);
}

/** Submits `def`'s call without waiting (its reply is checked when the slot is next needed). */
export function postHostCall<D extends AnyCallDef>(channel: HostChannel, def: D, a: ArgsOf<D>): void {
  const { args, payload } = def.args.encode(a);
  channel.post(def, args, payload);
}

/**
 * Makes `def`'s call once for each of `calls`, all submitted before the first is awaited. With
 * `into`, call i's reply bytes are copied from the slot straight into `into[i]` (of at least the
 * call's reply limit), so a bytes reply arrives as a view of that buffer, not a new one.
 */
export function hostCallMany<D extends AnyCallDef>(
  channel: HostChannel,
  def: D,
  calls: readonly ArgsOf<D>[],
  options: { into?: readonly Uint8Array[] } = {},
): ReplyOf<D>[] {
  return channel
    .callMany(requests(def, calls, options.into))
    .map((reply, i) => decodeReply(def, reply.result, reply.data, calls[i]));
}

/**
 * Submits `def`'s call once for each of `calls` and returns at once; the function returned waits
 * for their replies (those not answered yet) and gives each call's decoded reply, or its error (a
 * `WasiError`) in its place. Replies are checked as any are, when taken.
 */
export function startHostCallEach<D extends AnyCallDef>(
  channel: HostChannel,
  def: D,
  calls: readonly ArgsOf<D>[],
): () => (ReplyOf<D> | WasiError)[] {
  const batch = channel.start(requests(def, calls, undefined));
  return () =>
    channel.finishEach(batch).map((reply, i) => {
      if (reply instanceof WasiError) return reply;
      try {
        return decodeReply(def, reply.result, reply.data, calls[i]);
      } catch (error) {
        if (error instanceof WasiError) return error;
        throw error;
      }
    });
}

/**
 * As {@link hostCallMany}, but returns once the calls are submitted: the host serves them while the
 * enclave works on, and the returned function waits for the decoded replies (or throws).
 */
export function startHostCallMany<D extends AnyCallDef>(
  channel: HostChannel,
  def: D,
  calls: readonly ArgsOf<D>[],
  options: { into?: readonly Uint8Array[] } = {},
): () => ReplyOf<D>[] {
  const batch = channel.start(requests(def, calls, options.into));
  return () => channel.finish(batch).map((reply, i) => decodeReply(def, reply.result, reply.data, calls[i]));
}

function requests<D extends AnyCallDef>(
  def: D,
  calls: readonly ArgsOf<D>[],
  into: readonly Uint8Array[] | undefined,
): BatchRequest[] {
  return calls.map((a, i): BatchRequest => {
    const { args, payload } = def.args.encode(a);
    return { spec: def, args, payload, replyLimit: def.reply.limit(a), into: into?.[i] };
  });
}

/** A table's calls as functions: `stubs(channel, Calls).dirStat({ dir })`. Posted calls return at once. */
export type Stubs<T> = { readonly [K in keyof T]: (a: ArgsOf<T[K]>) => ReplyOf<T[K]> };

export function stubs<T extends Record<string, AnyCallDef>>(channel: HostChannel, table: T): Stubs<T> {
  const out: Record<string, (a: unknown) => unknown> = {};
  for (const [key, def] of Object.entries(table)) {
    out[key] = def.posted ? (a) => postHostCall(channel, def, a) : (a) => hostCall(channel, def, a);
  }
  return out as Stubs<T>;
}

function decodeReply<D extends AnyCallDef>(
  def: D,
  result: bigint,
  data: Uint8Array,
  a: ArgsOf<D>,
): ReplyOf<D> {
  try {
    return def.reply.decode(result, data, a) as ReplyOf<D>;
  } catch (error) {
    if (error instanceof WireError) throw new WasiError(Errno.IO, `${def.name}: ${error.message}`);
    throw error;
  }
}
