// The identity of a JavaScript enclave: reproducible across directories and rebuilds, changed by
// one byte of the app or the configuration, and never equal to a WASI enclave's.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { bundleJsApp, measureJsApp } from '../../src/host/js-enclave.ts';
import { measureEnclave, measureJsEnclave } from '../../src/tee/measurement.ts';
import { tempDir } from '../helpers/cli.ts';

const FIXTURE = new URL('fixtures/vault-app.ts', import.meta.url).pathname;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('JavaScript enclave measurement', () => {
  it('keeps the WASI measurement as it was (pinned before the JS kind existed)', () => {
    const e = new TextEncoder();
    const image = {
      bundle: e.encode('bundle'),
      wasm: new Uint8Array(5000).fill(7),
      config: e.encode('{"version":1}'),
    };
    assert.equal(
      hex(measureEnclave(image)),
      '0d70acaae811eb7def9ca36de6d65caeaea0727ef62422a40a0e542ad66b8e74',
    );
  });

  it('never measures a JS enclave like a WASI enclave of the same bytes', () => {
    const a = new TextEncoder().encode('same bytes');
    const b = new Uint8Array(8192).fill(1);
    const c = new TextEncoder().encode('{}');
    assert.notEqual(
      hex(measureJsEnclave({ runtime: a, app: b, config: c })),
      hex(measureEnclave({ bundle: a, wasm: b, config: c })),
    );
  });

  it('bundles and measures the same app the same from two directories', async () => {
    const bundles: string[] = [];
    for (const prefix of ['cloister-jsapp-a-', 'cloister-jsapp-b-']) {
      const dir = tempDir(prefix);
      dirs.push(dir);
      mkdirSync(join(dir, 'src'));
      copyFileSync(FIXTURE, join(dir, 'src', 'app.ts'));
      bundles.push(await bundleJsApp(join(dir, 'src', 'app.ts')));
    }
    assert.equal(bundles[0], bundles[1]);
    assert.equal(hex(measureJsApp(bundles[0])), hex(measureJsApp(bundles[1])));
  });

  it('changes with one byte of the app, of the configuration, or of the runtime', async () => {
    const app = await bundleJsApp(FIXTURE);
    const base = hex(measureJsApp(app, { settings: { job: 'a' } }));
    const flipped = app.replace('no secret set', 'no secret sat');
    assert.notEqual(hex(measureJsApp(flipped, { settings: { job: 'a' } })), base);
    assert.notEqual(hex(measureJsApp(app, { settings: { job: 'b' } })), base);
    assert.notEqual(hex(measureJsApp(app, { settings: { job: 'a' }, maxMessageBytes: 2048 })), base);
    const runtime = readFileSync('dist/js-enclave.js', 'utf8');
    assert.notEqual(hex(measureJsApp(app, { settings: { job: 'a' } }, `${runtime} `)), base);
  });

  it('builds the runtime bundle byte for byte the same twice, and as in dist/', () => {
    const outs = [tempDir('cloister-jsbuild-a-'), tempDir('cloister-jsbuild-b-')];
    dirs.push(...outs);
    for (const out of outs) {
      const r = spawnSync(process.execPath, ['scripts/build.mjs'], {
        env: { ...process.env, CLOISTER_DIST: out },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
    }
    const [a, b] = outs.map((out) => readFileSync(join(out, 'js-enclave.js')));
    assert.ok(a.length > 10_000, 'a real bundle');
    assert.ok(a.equals(b));
    assert.ok(a.equals(readFileSync('dist/js-enclave.js')));
  });
});
