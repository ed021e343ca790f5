/**
 * The run bundle, `dist/cli-run.cjs`: the command line of `cloister run` and `demo` (`run-main.ts`
 * and what it imports, no command group) as one CommonJS script, compiled with its V8 code cache
 * `dist/cli-run.cjs.v8cache`. Node 20 gives ES modules no code cache, and the ES module build's
 * ~15 files each cost a resolution, a read and a compile; one script whose compiled form is
 * cached starts that part of the CLI in a few milliseconds instead of ~25.
 *
 * The build makes the cache after running a hello-world program through `runFromRunBundle`
 * (scripts/write-cli-code-cache.ts), so it also holds the functions a run compiles, not only the top
 * level. The cache changes nothing that runs: it is taken only when its recorded SHA-256 of the
 * source and of its own bytes match (the layout of src/host/enclave-code-cache.ts), and V8 rejects
 * one made by another version or with other flags; then the source compiles as without one.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { decodeCodeCache } from '../host/enclave-code-cache.ts';
import {
  discardRunThreads,
  handOverRunThreads,
  prestartRunThreads,
  type PrestartedThreads,
} from '../host/run-threads.ts';
import { DEFAULT_MEMORY_MIB } from '../interface/run-config.ts';

export const RUN_BUNDLE_FILE = 'cli-run.cjs';
export const RUN_BUNDLE_CACHE_FILE = 'cli-run.cjs.v8cache';

/** The run bundle's source as compiled (and as its cache records it): wrapped as Node wraps CommonJS. */
export function wrapRunBundle(source: string): string {
  return `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
}

/**
 * Options after which a run most likely has host files or devices, and so a host-call server thread
 * (a guess, only for speed: a wrong one costs a thread's start-up, never a different run).
 */
const HOST_IO_OPTION = /^--(dir|volume|config|net|kbs)(=|$)/;

/**
 * Runs `cloister run` or `demo` from the run bundle in `distDir`: first starts the enclave Worker,
 * and the host-call thread if the run will likely need one (src/host/run-threads.ts), so that their
 * boot overlaps compiling the bundle, reading the options and measuring; then compiles the bundle,
 * with its code cache unless `useCache` is false or the cache does not belong to it, and hands it
 * the threads and `process.argv`. Returns the compiled script (its cached data is what the build
 * writes).
 */
export function runFromRunBundle(distDir: string, useCache = true): Script {
  try {
    prestartRunThreads(
      DEFAULT_MEMORY_MIB,
      process.argv.slice(2).some((arg) => HOST_IO_OPTION.test(arg)),
    );
  } catch {
    // Nothing started (dist/ not built, say): the launch starts its threads, or says why it cannot.
  }
  const path = join(distDir, RUN_BUNDLE_FILE);
  if (!existsSync(path)) {
    discardRunThreads();
    throw new Error(`${path} is missing: run \`npm run build\``);
  }
  const wrapped = wrapRunBundle(readFileSync(path, 'utf8'));
  const cachePath = join(distDir, RUN_BUNDLE_CACHE_FILE);
  const cachedData =
    useCache && existsSync(cachePath) ? decodeCodeCache(wrapped, readFileSync(cachePath)) : undefined;
  // No `importModuleDynamically`: the bundle has no `import()` (scripts/build.mjs turns them into
  // `require`s), which in a script compiled from a code cache finds no loader.
  const script = new Script(wrapped, { filename: path, cachedData });
  const module: { exports: { runMain?: (threads: PrestartedThreads) => void } } = { exports: {} };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run(module.exports, createRequire(path), module, path, distDir);
  module.exports.runMain!(handOverRunThreads());
  return script;
}
