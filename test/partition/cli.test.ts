// `cloister partition` and `cloister partition explain` as a user runs them (the built CLI).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.ts';
import { writeApp } from './helpers.ts';

const APP = {
  'package.json': '{ "name": "notes", "files": ["notes.ts"] }',
  'notes.ts': [
    '/** @sensitive */',
    'let pin = "0000";',
    'export function setPin(p: string): void { pin = p; }',
    'export function check(p: string): boolean { return p === pin; }',
    'export function title(): string { return "notes"; }',
  ].join('\n'),
};

describe('cloister partition (CLI)', () => {
  it('writes the partitioned application, the interface file and a report, and prints the figures', async () => {
    const dir = writeApp(APP);
    const out = join(writeApp({}), 'out');
    const report = join(out, '..', 'report.html');
    const r = await runCli(['partition', dir, '--out', out, '--report', report]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^program\s+notes$/m);
    assert.match(r.stdout, /^functions in the enclave\s+2 \/ 3 \(66\.7 %\)$/m);
    const iface = JSON.parse(readFileSync(join(out, 'interface.json'), 'utf8')) as {
      entries: { name: string }[];
    };
    assert.deepEqual(iface.entries.map((e) => e.name).sort(), ['check', 'setPin']);
    assert.ok(
      existsSync(join(out, 'host', 'notes.ts')) &&
        existsSync(join(out, 'enclave', 'cloister', 'enclave-runtime.cjs')),
    );
    assert.match(readFileSync(report, 'utf8'), /<h2>Enclave functions<\/h2>.*check/s);
  });

  it('explains why a function is inside', async () => {
    const r = await runCli(['partition', 'explain', writeApp(APP), 'check']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      'check (notes.ts:4) sees sensitive data:\n  1. notes.ts:2  pin  — sensitive source\n  → read in check\n',
    );
  });

  it('fails with exit status 2 and the file and line on source that does not type-check', async () => {
    const dir = writeApp({ 'bad.ts': 'export const a: number = 1;\nexport const b: string = a;\n' });
    const r = await runCli(['partition', dir, '--out', join(writeApp({}), 'out')]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^cloister: error: bad\.ts:2: does not type-check: Type 'number' is not assignable to type 'string'/,
    );
  });

  it('fails with exit status 2 and the file and line on a mark it cannot partition', async () => {
    const dir = writeApp({
      'c.ts': 'export const x = 1;\n/** @sensitive */\nexport class Keys { k = 1; }\n',
    });
    const r = await runCli(['partition', dir, '--out', join(writeApp({}), 'out')]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^cloister: error: c\.ts:3: cannot be partitioned: @sensitive on a class declaration/,
    );
  });
});
