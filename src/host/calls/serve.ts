/**
 * Serves a call table with a record of typed handlers, one per call name: the record's type lists
 * every call of the table, so a call without a handler does not compile (as Wasmtime's generated
 * host bindings do). Each request's arguments are decoded with the call's codec, the handler runs,
 * and its result is encoded into the slot with the same entry's reply codec.
 */
import type { AnyCallDef, ArgsOf, CallArea, HostReplyOf } from '../../interface/calls.ts';
import { WireError } from '../../interface/codec.ts';
import { Errno } from '../../interface/errno.ts';
import { errnoOf } from '../errno-map.ts';
import type { Request, Response } from '../ring-server.ts';

/**
 * The host's side of one call: its decoded arguments, and `out`, the slot's buffer cut to the
 * reply limit the enclave set (handlers that produce bytes may write them there directly).
 * A failure is thrown as an error with a Node `code` (ENOENT...), answered as its errno.
 */
export type HostHandler<D> = (args: ArgsOf<D>, out: Uint8Array) => HostReplyOf<D>;

export type HostHandlers<T> = { readonly [K in keyof T]: HostHandler<T[K]> };

/** The same, for a host that may answer later (a JavaScript enclave's host on its event loop). */
export type AsyncHostHandlers<T> = {
  readonly [K in keyof T]: (
    args: ArgsOf<T[K]>,
    out: Uint8Array,
  ) => HostReplyOf<T[K]> | Promise<HostReplyOf<T[K]>>;
};

/** The calls of `T` in `Area`. */
type CallsIn<T, Area extends CallArea> = {
  [K in keyof T as T[K] extends { readonly area: Area } ? K : never]: T[K];
};

/** The handlers of one area's calls: what each module of `src/host/calls/` provides. */
export type AreaHandlers<T, Area extends CallArea> = HostHandlers<CallsIn<T, Area>>;

/** An error the handlers throw for a refused request (a Node-style `code`, as fs errors carry). */
export function failure(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

type Served = (request: Request) => Response | Promise<Response>;
type AnyHandler = (args: never, out: Uint8Array) => unknown;

/** The ring server's handler for `table`, served by `handlers`. */
export function serveCalls<T extends Record<string, AnyCallDef>>(
  table: T,
  handlers: HostHandlers<T>,
): (request: Request) => Response {
  return serveAny(table, handlers) as (request: Request) => Response;
}

/** As `serveCalls`, for handlers that may return a promise: then so does the served call. */
export function serveCallsAsync<T extends Record<string, AnyCallDef>>(
  table: T,
  handlers: AsyncHostHandlers<T>,
): Served {
  return serveAny(table, handlers);
}

function serveAny(table: Record<string, AnyCallDef>, handlers: Record<string, AnyHandler>): Served {
  const byId = new Map<number, Served>();
  for (const [key, def] of Object.entries(table)) byId.set(def.id, serveOne(def, handlers[key]));
  return (request) => {
    const serve = byId.get(request.callId);
    // An id of no call: an enclave of another version, or a broken one.
    if (!serve) return { errno: Errno.NOSYS };
    try {
      const response = serve(request);
      return response instanceof Promise ? response.catch(refused) : response;
    } catch (error) {
      return refused(error);
    }
  };
}

function serveOne(def: AnyCallDef, handler: AnyHandler): Served {
  return (request) => {
    const out = request.data.subarray(0, request.replyLimit);
    const reply = handler(def.args.decode(request.args, request.payload) as never, out);
    const publish = (value: unknown): Response => {
      const wire = def.reply.encode(value, out);
      return { errno: Errno.SUCCESS, result: wire.result, replyLength: wire.length };
    };
    return reply instanceof Promise ? reply.then(publish) : publish(reply);
  };
}

/** A request the enclave should not have sent (malformed arguments) is EINVAL; a host error its errno. */
function refused(error: unknown): Response {
  return { errno: error instanceof WireError ? Errno.INVAL : errnoOf(error) };
}
