/**
 * The host side of a partitioned application at run time: when the application starts, launches
 * its enclave bundle (enclave-bundle.ts) as a JavaScript enclave once and
 * backs the generated stubs' `EnclaveChannel` with it. Exits (the enclave calling host functions)
 * arrive as the enclave's `host.call('cloister-exit', …)`. Built to `dist/partition-host.js`, which
 * the generated `host/cloister/start.mjs` imports.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { decodeValue } from '../interface/js-enclave-codec.ts';
import { JsEnclaveError, launchJsEnclave, type JsEnclave, type JsEnclaveConfig } from '../host/js-enclave.ts';
import { BUNDLE, CONFIG } from './enclave-bundle.ts';

interface HostRuntime {
  install(channel: {
    callSync(name: string, request: unknown): unknown;
    call(name: string, request: unknown): Promise<unknown>;
  }): void;
  serveExit(name: string, request: unknown): unknown;
  toWire(value: unknown): Uint8Array;
  fromWire(bytes: Uint8Array): unknown;
}

export interface StartOptions {
  platformPath?: string;
  onConsole?: (stream: 1 | 2, text: string) => void;
  syncTimeoutMs?: number;
  /** Where errors the host threw into enclave code that left them uncaught go (default: thrown on the host, uncaught). */
  onUncaught?: (error: Error) => void;
}

/** An error the enclave's entry threw, as the host sees it: its name and message only. */
function rethrown(error: unknown): unknown {
  if (!(error instanceof JsEnclaveError) || error.code !== 'threw') return error;
  const copy = new Error(error.message);
  copy.name = error.errorName ?? 'Error';
  return copy;
}

function errorReply(runtime: HostRuntime, error: unknown): Uint8Array {
  const e = error instanceof Error ? error : new Error(String(error));
  return runtime.toWire({ error: { name: e.name, message: e.message } });
}

/**
 * An error a host function threw into the enclave that enclave code outside any call did not catch
 * (a callback the enclave called from a timer): thrown on the host as an uncaught exception, where
 * it would have surfaced unpartitioned.
 */
function uncaughtHandler(report: (error: Error) => void): (bytes: Uint8Array) => Uint8Array {
  return (bytes) => {
    const decoded = decodeValue(bytes);
    const [name, message] = Array.isArray(decoded) ? decoded : ['Error', decoded];
    const error = new Error(String(message));
    error.name = String(name);
    report(error);
    return new Uint8Array(0);
  };
}

const throwLater = (error: Error): void => {
  setImmediate(() => {
    throw error;
  });
};

const started = new Map<string, Promise<JsEnclave>>();

/**
 * Launches the enclave of the partitioned application whose host copy is `hostDir` (once per
 * process) and installs the channel the generated stubs call.
 */
export function startPartitionedEnclave(hostDir: string, options: StartOptions = {}): Promise<JsEnclave> {
  const dir = resolve(hostDir);
  let enclave = started.get(dir);
  if (enclave === undefined) {
    enclave = launch(dir, options);
    started.set(dir, enclave);
  }
  return enclave;
}

async function launch(dir: string, { onUncaught, ...launchOptions }: StartOptions): Promise<JsEnclave> {
  const runtime = createRequire(join(dir, 'cloister', 'host-runtime.cjs'))(
    './host-runtime.cjs',
  ) as HostRuntime;
  const serve = (bytes: Uint8Array): Uint8Array | Promise<Uint8Array> => {
    try {
      const [name, request] = runtime.fromWire(bytes) as [string, unknown];
      const value = runtime.serveExit(name, request);
      if (value instanceof Promise)
        return value.then(
          (v: unknown) => runtime.toWire({ value: v }),
          (e: unknown) => errorReply(runtime, e),
        );
      return runtime.toWire({ value });
    } catch (error) {
      return errorReply(runtime, error);
    }
  };
  const enclave = await launchJsEnclave({
    appBundle: readFileSync(join(dir, 'cloister', BUNDLE), 'utf8'),
    config: JSON.parse(readFileSync(join(dir, 'cloister', CONFIG), 'utf8')) as Partial<JsEnclaveConfig>,
    hostHandlers: { 'cloister-exit': serve, 'cloister-uncaught': uncaughtHandler(onUncaught ?? throwLater) },
    ...launchOptions,
  });
  runtime.install({
    callSync(name, request) {
      try {
        return enclave.callSync('enterSync', [name, request]);
      } catch (error) {
        throw rethrown(error);
      }
    },
    call: (name, request) =>
      enclave.call('enterAsync', [name, request]).catch((error: unknown) => {
        throw rethrown(error);
      }),
  });
  return enclave;
}
