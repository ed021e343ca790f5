/**
 * The host's calls into the application: the allow-list of entries and the dispatch of one
 * request. A request is the encoded `[name, args]` (js-enclave-codec.ts), already copied out of
 * shared memory; anything else is refused with a message, and the enclave keeps serving.
 */
import { CallStatus } from '../../interface/js-enclave.ts';
import { CodecError, decodeValue, encodeValue } from '../../interface/js-enclave-codec.ts';

type EntryFunction = (...args: unknown[]) => unknown;

interface Entry {
  fn: EntryFunction;
  least: number;
  most: number;
}

export interface Outcome {
  status: number;
  data: Uint8Array;
}

export class LoadError extends Error {
  override name = 'LoadError';
}

/**
 * The callable entries: the app's exported functions (with exactly their declared parameter
 * count), or, when the measured configuration names entries, exactly those.
 */
export function entryTable(
  exports: unknown,
  declared?: Record<string, [number, number]>,
): Map<string, Entry> {
  const table = new Map<string, Entry>();
  if (typeof exports !== 'object' || exports === null) throw new LoadError('the app exports nothing');
  const exported = exports as Record<string, unknown>;
  if (declared) {
    for (const [name, [least, most]] of Object.entries(declared)) {
      const fn = Object.prototype.hasOwnProperty.call(exported, name) ? exported[name] : undefined;
      if (typeof fn !== 'function') {
        throw new LoadError(
          `the configuration names entry ${JSON.stringify(name)}, which the app does not export as a function`,
        );
      }
      table.set(name, { fn: fn as EntryFunction, least, most });
    }
    return table;
  }
  for (const name of Object.keys(exported)) {
    const fn = exported[name];
    if (typeof fn === 'function')
      table.set(name, { fn: fn as EntryFunction, least: fn.length, most: fn.length });
  }
  return table;
}

export class Dispatcher {
  constructor(
    private readonly entries: Map<string, Entry>,
    private readonly maxMessageBytes: number,
  ) {}

  get names(): string[] {
    return [...this.entries.keys()];
  }

  /** Runs one request; never throws (everything becomes an outcome the host can read). */
  async dispatch(request: Uint8Array): Promise<Outcome> {
    const call = this.parse(request);
    if (!('fn' in call)) return call;
    let result: unknown;
    try {
      result = await call.fn(...call.args);
    } catch (error) {
      return this.threw(error);
    }
    return this.result(call.name, result);
  }

  /**
   * Runs a request nested inside one of the app's host calls (the host's handler called an entry
   * while the enclave waits for it): the same checks, but the entry must answer synchronously, as
   * the code waiting below it cannot yield to the event loop.
   */
  dispatchNested(request: Uint8Array): Outcome {
    const call = this.parse(request);
    if (!('fn' in call)) return call;
    let result: unknown;
    try {
      result = call.fn(...call.args);
    } catch (error) {
      return this.threw(error);
    }
    if (result instanceof Promise) {
      result.catch(() => undefined);
      return this.refuse(`entry ${call.name} is asynchronous and cannot run nested inside a host call`);
    }
    return this.result(call.name, result);
  }

  private parse(request: Uint8Array): Outcome | { name: string; fn: EntryFunction; args: unknown[] } {
    let name: string;
    let args: unknown[];
    try {
      const decoded = decodeValue(request);
      if (
        !Array.isArray(decoded) ||
        decoded.length !== 2 ||
        typeof decoded[0] !== 'string' ||
        !Array.isArray(decoded[1])
      ) {
        return this.refuse('malformed request: expected [name, args]');
      }
      [name, args] = decoded as [string, unknown[]];
    } catch (error) {
      if (error instanceof CodecError) return this.refuse(`malformed request: ${error.message}`);
      throw error;
    }
    const entry = this.entries.get(name);
    if (!entry) return this.refuse(`no entry named ${JSON.stringify(name.slice(0, 200))}`);
    if (args.length < entry.least || args.length > entry.most) {
      const expected = entry.least === entry.most ? `${entry.least}` : `${entry.least} to ${entry.most}`;
      return this.refuse(`entry ${name} takes ${expected} arguments, got ${args.length}`);
    }
    return { name, fn: entry.fn, args };
  }

  private result(name: string, result: unknown): Outcome {
    try {
      return { status: CallStatus.OK, data: encodeValue(result, this.maxMessageBytes) };
    } catch (error) {
      if (error instanceof CodecError)
        return this.threw(
          new TypeError(`entry ${name} returned a value that cannot leave: ${error.message}`),
        );
      throw error;
    }
  }

  refuse(message: string): Outcome {
    return { status: CallStatus.REFUSED, data: encodeValue(message, this.maxMessageBytes) };
  }

  /** The error's name and message only: nothing else of an enclave object reaches the host. */
  private threw(error: unknown): Outcome {
    let name = 'Error';
    let message = `non-error thrown: ${typeof error}`;
    try {
      if (error instanceof Error) [name, message] = [String(error.name), String(error.message)];
    } catch {
      message = 'an error whose name or message cannot be read';
    }
    const cap = Math.max(0, Math.floor(this.maxMessageBytes / 8));
    return {
      status: CallStatus.THREW,
      data: encodeValue([name.slice(0, 200), message.slice(0, cap)], this.maxMessageBytes),
    };
  }
}
