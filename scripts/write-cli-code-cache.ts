// Writes the V8 code caches of the run bundle and of the enclave bundle beside them
// (src/cli/run-bundle.ts and src/host/enclave-code-cache.ts say why they may be trusted to change
// nothing): runs hello world through the run bundle as `cloister run` would, and at exit writes
// what V8 has compiled by then in each thread, so the caches hold the functions a run needs, not
// only the top level. Bundled and run by scripts/build.mjs in a process of its own with default V8
// flags, from a file inside $CLOISTER_DIST (default dist/), with $CLOISTER_SIM_PLATFORM pointing
// into a directory of its own.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encodeCodeCache } from '../src/host/enclave-code-cache.ts';
import { ENCLAVE_CODE_CACHE_FILE } from '../src/host/package-files.ts';
import {
  RUN_BUNDLE_CACHE_FILE,
  RUN_BUNDLE_FILE,
  runFromRunBundle,
  wrapRunBundle,
} from '../src/cli/run-bundle.ts';

/**
 * (module (import "wasi_snapshot_preview1" "fd_write" …) (memory 1) (data (i32.const 64) "hello, world\n")
 *   (func (export "_start") …)): writes "hello, world\n" to stdout.
 */
const HELLO_WASM =
  '0061736d01000000010c0260047f7f7f7f017f60000002230116776173695f736e617073686f745f70726576696577310866' +
  '645f77726974650000030201010503010001071302066d656d6f72790200065f737461727400010a1e011c00410041c00036' +
  '02004104410d360200410141004101410810001a0b0b14010041c0000b0d68656c6c6f2c20776f726c640a';

const dist = resolve(process.env.CLOISTER_DIST ?? 'dist');
const work = mkdtempSync(join(tmpdir(), 'cloister-cli-cache-'));
const hello = join(work, 'hello.wasm');
writeFileSync(hello, Buffer.from(HELLO_WASM, 'hex'));
// The enclave Worker writes its cached data there as it ends (src/tee/worker-enclave.ts).
const enclaveCache = join(work, 'enclave-cache');
process.env.CLOISTER_RECORD_ENCLAVE_CODE_CACHE = enclaveCache;
process.argv = [process.execPath, join(dist, 'cli.cjs'), 'run', hello];
const source = readFileSync(join(dist, RUN_BUNDLE_FILE), 'utf8');
const script = runFromRunBundle(dist, false);
process.on('exit', () => {
  try {
    if (process.exitCode !== undefined && process.exitCode !== 0) return;
    // Written by the prestarted enclave Worker as it ended: missing, the run did not use it.
    if (!existsSync(enclaveCache)) {
      process.stderr.write('the enclave Worker recorded no code cache\n');
      process.exitCode = 1;
      return;
    }
    writeFileSync(
      join(dist, RUN_BUNDLE_CACHE_FILE),
      encodeCodeCache(wrapRunBundle(source), script.createCachedData()),
    );
    const enclaveSource = readFileSync(join(dist, 'enclave.js'), 'utf8');
    writeFileSync(
      join(dist, ENCLAVE_CODE_CACHE_FILE),
      encodeCodeCache(enclaveSource, readFileSync(enclaveCache)),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
