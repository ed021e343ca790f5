// Builds dist/: the enclave bundle (measured: it must be byte-for-byte reproducible from the
// same sources and lockfile), the host-call server thread and the CLI.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// CLOISTER_DIST lets a test rebuild elsewhere and compare: same sources, same bytes.
const out = process.env.CLOISTER_DIST ?? 'dist';

/** An esbuild plugin: every package import stays external except those of the packages named. */
function externalPackagesExcept(bundled) {
  return {
    name: 'external-packages-except',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        const name = args.path.startsWith('@')
          ? args.path.split('/').slice(0, 2).join('/')
          : args.path.split('/')[0];
        return bundled.includes(name) || args.path.startsWith('node:')
          ? undefined
          : { path: args.path, external: true };
      });
    },
  };
}

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
  // A Worker's eval'd script, compiled by `vm.Script`, has no module loader for `import()`: the
  // enclave's `import('node:v8')` becomes a `require`.
  supported: { 'dynamic-import': false },
});
// Its V8 code cache (not measured; src/host/enclave-code-cache.ts), made by this Node in a process
// of its own with default V8 flags, like the enclave's: the top level only; replaced below by the
// one recorded during a run.
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
// The ES module CLI, every command (main.ts), split so that the heavy command groups it imports on
// demand load only when used.
await build({
  ...common,
  entryPoints: { 'cli-main': 'src/cli/main.ts', 'partition-host': 'src/partition/host-start.ts' },
  outdir: out,
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  format: 'esm',
  // Packages load from node_modules at run time, except commander, which every command parses
  // with: bundled, it costs no package resolution nor reading CommonJS into an ES module at start.
  // (Its CommonJS `require`s of Node's modules need a `require` in the ES module chunks.)
  plugins: [externalPackagesExcept(['commander'])],
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);",
  },
});
// The executable: one CommonJS file, so that Node sets up no ES module loader and reads no other
// module before it starts the run's threads. Its `import('./main.ts')` is the ES module CLI
// above; the modules both import are copies, which share nothing a command needs (the run's
// threads go to the run bundle). Its `import.meta.url` is its own file's URL.
await build({
  ...common,
  entryPoints: ['src/cli/start.ts'],
  outfile: `${out}/cli.cjs`,
  format: 'cjs',
  plugins: [
    {
      name: 'es-module-cli',
      setup(b) {
        b.onResolve({ filter: /^\.\/main\.ts$/ }, () => ({ path: './cli-main.js', external: true }));
      },
    },
    externalPackagesExcept([]),
  ],
  define: { 'import.meta.url': '__cliUrl' },
  banner: { js: "#!/usr/bin/env node\nconst __cliUrl = require('node:url').pathToFileURL(__filename).href;" },
});
chmodSync(`${out}/cli.cjs`, 0o755);
// `node dist/cli.js …` (the path of earlier versions) runs the same executable.
writeFileSync(
  `${out}/cli.js`,
  "#!/usr/bin/env node\n// The `cloister` executable is cli.cjs.\nimport './cli.cjs';\n",
);
chmodSync(`${out}/cli.js`, 0o755);
// The run bundle: `cloister run` and `demo` as one CommonJS script, which cli.js compiles with a V8
// code cache (src/cli/run-bundle.ts). Its `import.meta.url` (package-files.ts finds dist/ with it)
// is its own file's URL. Packages load with `require`, also the ES-module-only ones (Node 20.19's
// require(esm)): a script compiled by `vm.Script` has no working `import()` once it comes from a
// code cache.
await build({
  ...common,
  entryPoints: ['src/cli/run-main.ts'],
  outfile: `${out}/cli-run.cjs`,
  format: 'cjs',
  plugins: [externalPackagesExcept(['commander'])],
  supported: { 'dynamic-import': false },
  define: { 'import.meta.url': '__runBundleUrl' },
  banner: { js: "const __runBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
// Its code cache and the enclave's, recorded by running hello world through it in a process of its
// own (default V8 flags, like a run's) with a sim platform of its own, removed after: they then hold
// the functions a run compiles. Only for a dist/ inside the package (a run finds its files from the
// package root); a build elsewhere, made to be compared, has no run bundle cache and keeps the
// enclave's top-level one.
/**
 * Runs the cache writer: a file (not `-e`: the enclave Worker would inherit `--input-type=module`)
 * inside dist/, so that the threads it starts find the package's files as cli.js does.
 */
async function writeRunBundleCache() {
  const writer = await build({
    ...common,
    entryPoints: ['scripts/write-cli-code-cache.ts'],
    format: 'esm',
    packages: 'external',
    write: false,
  });
  const script = join(out, 'write-cli-code-cache.tmp.mjs');
  const work = mkdtempSync(join(tmpdir(), 'cloister-build-'));
  try {
    writeFileSync(script, writer.outputFiles[0].text);
    execFileSync(process.execPath, [script], {
      stdio: 'pipe',
      env: { ...process.env, CLOISTER_DIST: out, CLOISTER_SIM_PLATFORM: join(work, 'sim-platform.json') },
    });
  } catch (error) {
    throw new Error(`writing the run bundle's code cache: ${error.stderr ?? error.message}`);
  } finally {
    rmSync(script, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
}
rmSync(join(out, 'cli-run.cjs.v8cache'), { force: true });
if (existsSync(join(out, '..', 'package.json'))) await writeRunBundleCache();
