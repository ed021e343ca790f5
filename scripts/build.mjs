// Builds dist/: the enclave bundle (measured: it must be byte-for-byte reproducible from the
// same sources and lockfile), the host-call server thread and the CLI.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';

// CLOISTER_DIST lets a test rebuild elsewhere and compare: same sources, same bytes.
const out = process.env.CLOISTER_DIST ?? 'dist';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
  loader: { '.wasm': 'binary' },
};

// Run with `new Worker(source, { eval: true })`, which takes a CommonJS script. An IIFE keeps the
// bundle's top-level names out of the worker's global scope (a `var Event` would replace the global).
await build({
  ...common,
  entryPoints: ['src/enclave/main.ts'],
  outfile: `${out}/enclave.js`,
  format: 'iife',
});
// Its V8 code cache (not measured; src/host/enclave-code-cache.ts), made by this Node in a process
// of its own with default V8 flags, like the enclave's.
const cacheWriter = await build({
  ...common,
  entryPoints: ['scripts/write-code-cache.ts'],
  format: 'esm',
  packages: 'external',
  write: false,
});
execFileSync(process.execPath, ['--input-type=module', '-e', cacheWriter.outputFiles[0].text], {
  stdio: 'inherit',
  env: { ...process.env, CLOISTER_DIST: out },
});
// The JavaScript enclave's runtime (measured, like enclave.js). Strict mode throughout: the app
// it loads must not reach the runtime's functions through `caller` or sloppy-mode stack frames.
await build({
  ...common,
  entryPoints: ['src/enclave/js/main.ts'],
  outfile: `${out}/js-enclave.js`,
  format: 'iife',
  banner: { js: "'use strict';" },
});
await build({
  ...common,
  entryPoints: ['src/host/js-enclave-platform.ts'],
  outfile: `${out}/js-enclave-platform.js`,
  format: 'esm',
  packages: 'external',
});
// CommonJS: a Worker starts a CommonJS file faster than an ES module (no module loader to set up).
await build({
  ...common,
  entryPoints: ['src/host/server-worker.ts'],
  outfile: `${out}/host-server.cjs`,
  format: 'cjs',
  packages: 'external',
});
// Split so that the heavy command groups the CLI imports on demand load only when used.
await build({
  ...common,
  entryPoints: { cli: 'src/cli/main.ts', 'partition-host': 'src/partition/host-start.ts' },
  outdir: out,
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  format: 'esm',
  packages: 'external',
  banner: { js: '#!/usr/bin/env node' },
});
chmodSync(`${out}/cli.js`, 0o755);
