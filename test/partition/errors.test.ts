// Bad input to the partitioner: each refusal names the file and line of the user's source.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyze } from '../../src/partition/analyze.ts';
import { PartitionError } from '../../src/partition/errors.ts';
import { planPartition } from '../../src/partition/plan.ts';
import { writeApp } from './helpers.ts';

function refusal(work: () => unknown): PartitionError {
  try {
    work();
  } catch (error) {
    if (error instanceof PartitionError) return error;
    throw error;
  }
  assert.fail('expected a PartitionError');
}

describe('partition refuses bad input with file and line', () => {
  it('source that does not type-check', () => {
    const dir = writeApp({ 'bad.ts': 'export const ok = 1;\nexport const n: number = "not a number";\n' });
    const e = refusal(() => analyze(dir));
    assert.deepEqual([e.file, e.line], ['bad.ts', 2]);
    assert.match(
      e.message,
      /^bad\.ts:2: does not type-check: Type 'string' is not assignable to type 'number'/,
    );
  });

  it('with allowTypeErrors, lists type errors as places where precision was given up (not syntax errors)', () => {
    const dir = writeApp({ 'bad.ts': 'export const ok = 1;\nexport const n: number = "not a number";\n' });
    const a = analyze(dir, { allowTypeErrors: true });
    assert.deepEqual(
      a.graph.precisionLoss.filter((p) => p.reason === 'type-error').map((p) => `${p.file}:${p.line}`),
      ['bad.ts:2'],
    );
    const broken = writeApp({ 'x.ts': 'export const a = 1;\nfunction (\n' });
    assert.deepEqual([refusal(() => analyze(broken, { allowTypeErrors: true })).line], [2]);
  });

  it('JavaScript with a syntax error', () => {
    const dir = writeApp({ 'package.json': '{"files":["x.js"]}', 'x.js': 'const a = 1;\nfunction (\n' });
    const e = refusal(() => analyze(dir));
    assert.deepEqual([e.file, e.line], ['x.js', 2]);
  });

  it('@sensitive on a class (not a value the analysis can follow)', () => {
    const dir = writeApp({
      'c.ts': 'export const x = 1;\n/** @sensitive */\nexport class Keys { k = 1; }\n',
    });
    const e = refusal(() => analyze(dir));
    assert.deepEqual([e.file, e.line], ['c.ts', 3]);
    assert.match(e.message, /cannot be partitioned: @sensitive on a class declaration/);
  });

  it('@declassify on a variable that is not a function', () => {
    const dir = writeApp({ 'd.ts': '/** @declassify */\nexport const shown = "x";\n' });
    const e = refusal(() => analyze(dir));
    assert.deepEqual([e.file, e.line], ['d.ts', 2]);
    assert.match(
      e.message,
      /@declassify on a variable statement; it belongs on a function, a return statement or a statement that calls out/,
    );
  });

  it('@sensitive naming a parameter the function does not have', () => {
    const dir = writeApp({
      'p.ts':
        '/** @sensitive pasword */\nexport function login(password: string): number { return password.length; }\n',
    });
    const e = refusal(() => analyze(dir));
    assert.deepEqual([e.file, e.line], ['p.ts', 2]);
  });

  it('Sensitive<T> on a parameter of a function type (no body to move into the enclave)', () => {
    const dir = writeApp({
      's.ts': [
        'type Sensitive<T> = T;',
        'export const n = 1;',
        'export type Hasher = (key: Sensitive<string>) => string;',
      ].join('\n'),
    });
    const e = refusal(() => analyze(dir));
    assert.deepEqual([e.file, e.line], ['s.ts', 3]);
    assert.match(e.message, /cannot be partitioned: Sensitive<…> on a parameter/);
  });

  it('@sensitive on a statement that declares nothing (JavaScript)', () => {
    const dir = writeApp({
      'package.json': '{"files":["j.js"]}',
      'j.js': "'use strict';\nlet key = '';\n/** @sensitive */\nconsole.log(key);\n",
    });
    const e = refusal(() => analyze(dir));
    assert.deepEqual([e.file, e.line], ['j.js', 4]);
    assert.match(e.message, /cannot be partitioned: @sensitive on an? expression statement/);
  });

  it('a function that sees sensitive data but needs Node I/O the enclave lacks', () => {
    const dir = writeApp({
      'io.ts': [
        "import { writeFileSync } from 'node:fs';",
        '/** @sensitive */ const key = "k";',
        'export function backup(): void { writeFileSync("/tmp/k", key); }',
      ].join('\n'),
      'node_modules/@types/node/package.json': '{"name":"@types/node","types":"index.d.ts"}',
      'node_modules/@types/node/index.d.ts':
        'declare module "node:fs" { export function writeFileSync(p: string, d: string): void; }\n',
    });
    const e = refusal(() => planPartition(analyze(dir)));
    assert.deepEqual([e.file, e.line], ['io.ts', 3]);
    assert.match(e.message, /cannot be partitioned: backup handles sensitive data but uses node:fs/);
  });

  it('a synchronous cycle across the boundary through a function pinned to the host', () => {
    const dir = writeApp({
      'cyc.ts': [
        "import { readFileSync } from 'node:fs';",
        '/** @sensitive */ const key = "k";',
        'export function sign(n: number): number { const used = key.length; return n > used ? load(n - 1) : 0; }',
        'export function load(n: number): number { readFileSync("/dev/null"); return sign(n); }',
      ].join('\n'),
      'node_modules/@types/node/package.json': '{"name":"@types/node","types":"index.d.ts"}',
      'node_modules/@types/node/index.d.ts':
        'declare module "node:fs" { export function readFileSync(p: string): string; }\n',
    });
    const e = refusal(() => planPartition(analyze(dir)));
    assert.deepEqual([e.file, e.line], ['cyc.ts', 3]); // the call that crosses out of the enclave
    assert.match(
      e.message,
      /a cycle the generator cannot split: synchronous calls between sign \(enclave\) and load \(cyc\.ts:4\), which must stay on the host: it uses node:fs/,
    );
  });
});
