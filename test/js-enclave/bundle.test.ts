// Application code gets no Node I/O: bundling refuses imports of Node modules other than
// node:crypto and node:buffer, naming the import and the file, including dynamic imports and
// requires; the allowed modules and the enclave API stay imports for the runtime to provide.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BundleError, bundleJsApp } from '../../src/host/js-enclave.ts';
import { tempDir } from '../helpers/cli.ts';

const dir = tempDir('cloister-jsbundle-');
after(() => rmSync(dir, { recursive: true, force: true }));

function app(name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

describe('bundleJsApp', () => {
  const refusals: [string, string, RegExp][] = [
    [
      'static-fs.ts',
      `import { readFileSync } from 'node:fs';\nexport const f = () => readFileSync('/etc/passwd');`,
      /node:fs is imported by .*static-fs\.ts/,
    ],
    [
      'require-fs.js',
      `export function f() { return require('fs').readFileSync('/etc/passwd'); }`,
      /fs is imported by .*require-fs\.js/,
    ],
    ['dynamic-fs.ts', `export async function f() { return import('node:fs'); }`, /node:fs is imported by/],
    [
      'child.ts',
      `import { execSync } from 'child_process';\nexport const f = () => execSync('id');`,
      /child_process is imported by/,
    ],
    [
      'process.ts',
      `import process from 'node:process';\nexport const f = () => process.env;`,
      /node:process is imported by/,
    ],
    [
      'worker.ts',
      `import { Worker } from 'node:worker_threads';\nexport const f = () => Worker;`,
      /node:worker_threads is imported by/,
    ],
    ['net.ts', `import * as net from 'net';\nexport const f = () => net;`, /net is imported by/],
  ];
  for (const [name, source, match] of refusals) {
    it(`refuses ${name} with a clear error naming the import`, async () => {
      await assert.rejects(bundleJsApp(app(name, source)), (e: unknown) => {
        assert.ok(e instanceof BundleError);
        assert.match(e.message, match);
        assert.match(e.message, /Node I\/O modules are not available inside a JavaScript enclave/);
        return true;
      });
    });
  }

  it('refuses an I/O import anywhere in the import graph, naming the importing file', async () => {
    app(
      'helper.ts',
      `import { writeFileSync } from 'node:fs';\nexport const save = (s: string) => writeFileSync('x', s);`,
    );
    const entry = app(
      'uses-helper.ts',
      `import { save } from './helper.ts';\nexport const f = () => save('x');`,
    );
    await assert.rejects(bundleJsApp(entry), /node:fs is imported by .*helper\.ts/);
  });

  it('keeps node:crypto, node:buffer and cloister:enclave as imports the runtime provides', async () => {
    const entry = app(
      'ok.ts',
      `import { createHash } from 'crypto';\nimport { Buffer } from 'node:buffer';\nimport { seal } from 'cloister:enclave';\n` +
        `export const f = (b: Uint8Array) => seal(Buffer.from(createHash('sha256').update(b).digest()));`,
    );
    const bundle = await bundleJsApp(entry);
    assert.match(bundle, /require\("node:crypto"\)/);
    assert.match(bundle, /require\("node:buffer"\)/);
    assert.match(bundle, /require\("cloister:enclave"\)/);
  });

  it('reports a syntax error with its file and line', async () => {
    await assert.rejects(bundleJsApp(app('broken.ts', 'export const x = ;\n')), /broken\.ts:1:/);
  });
});
