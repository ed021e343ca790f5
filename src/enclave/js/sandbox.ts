/**
 * What the application code can reach inside the enclave Worker. The runtime takes what it needs
 * first; then the realm is locked down: the globals that do I/O or reach Node's internals are
 * deleted (process, require, module, fetch and friends; Request, Response and Headers stay: they
 * are data, and the runtime's key-broker client builds them), and code generation from strings is
 * switched off (eval, Function and its async and generator kin), because code made from a string
 * could use `import()` to load any Node module. The app gets `require` only for the modules in
 * ALLOWED_MODULES, minus the crypto functions that load code from the file system.
 *
 * This is a hardening of the sim backend, not isolation: the Worker shares the process with the
 * host (docs/js-enclave.md lists what sim cannot prevent).
 */
import * as nodeBuffer from 'node:buffer';
import * as nodeCrypto from 'node:crypto';

/** The globals the app must not see: Node I/O, the module system, other threads. */
const DELETED_GLOBALS = [
  'process',
  'require',
  'module',
  'exports',
  '__filename',
  '__dirname',
  'fetch',
  'WebSocket',
  'EventSource',
  'BroadcastChannel',
  'navigator',
  'eval',
];

/** node:crypto members that load native code (an OpenSSL engine) or switch the process's FIPS mode. */
const CRYPTO_DENIED = new Set(['setEngine', 'setFips']);

export class SandboxError extends Error {
  override name = 'SandboxError';
}

function denied(): never {
  throw new EvalError('code generation from strings is disabled in the enclave');
}

/** Locks the realm down; `console` replaces the global one, which writes to the Worker's stdio. */
export function lockDownRealm(console: Console): void {
  for (const name of DELETED_GLOBALS) {
    if (!Reflect.deleteProperty(globalThis, name)) throw new SandboxError(`cannot remove the global ${name}`);
  }
  Object.defineProperty(globalThis, 'console', { value: console, writable: false, configurable: false });
  const kinds = [function () {}, async function () {}, function* () {}, async function* () {}];
  for (const f of kinds) {
    Object.defineProperty(Object.getPrototypeOf(f), 'constructor', {
      value: denied,
      writable: false,
      configurable: false,
    });
  }
  Object.defineProperty(globalThis, 'Function', { value: denied, writable: false, configurable: false });
}

/** Up to this size `randomBytes(size, callback)` is drawn at once (a few µs at most). */
const RANDOM_AT_ONCE_LIMIT = 64 * 1024;
// Taken at load: the app's realm keeps the global, but the runtime does not rely on it.
const laterTurn = setImmediate;

/**
 * `randomBytes(size, callback)` as the app sees it: small sizes are drawn at once and the callback
 * runs on a later turn of the enclave's event loop, as Node's would, without the round trip to
 * Node's thread pool and back (two thread wake-ups per call, on the path of each OAuth token).
 */
function randomBytes(size: number, callback?: (error: Error | null, bytes: Buffer) => void): unknown {
  if (typeof callback !== 'function' || !Number.isInteger(size) || size < 0 || size > RANDOM_AT_ONCE_LIMIT)
    return (nodeCrypto.randomBytes as (...a: unknown[]) => unknown)(size, callback);
  const bytes = nodeCrypto.randomBytes(size);
  laterTurn(() => callback(null, bytes));
  return undefined;
}

/** The `require` the application bundle gets: the API module and the pure Node modules only. */
export function appRequire(api: object): (name: string) => unknown {
  const crypto = Object.freeze({
    ...Object.fromEntries(Object.entries(nodeCrypto).filter(([key]) => !CRYPTO_DENIED.has(key))),
    randomBytes,
  });
  const buffer = Object.freeze({ ...nodeBuffer });
  const modules = new Map<string, unknown>([
    ['cloister:enclave', api],
    ['node:crypto', crypto],
    ['crypto', crypto],
    ['node:buffer', buffer],
    ['buffer', buffer],
  ]);
  return (name: string) => {
    if (!modules.has(name)) {
      throw new SandboxError(`require(${JSON.stringify(String(name))}): not available inside the enclave`);
    }
    return modules.get(name);
  };
}
