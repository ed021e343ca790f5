// The partitioner's analysis on small programs with known answers: which functions see sensitive
// data (forward slice), which can affect it (backward slice), and where precision was given up.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyze } from '../../src/partition/analyze.ts';
import { explainPath, findFunction } from '../../src/partition/explain.ts';
import { names, writeApp } from './helpers.ts';

describe('partition analysis (TypeScript)', () => {
  it('follows direct flow from a @sensitive variable, and no further', () => {
    const dir = writeApp({
      'app.ts': [
        '/** @sensitive */',
        'let masterKey = new Uint8Array(32);',
        'export function checksum(): number { return masterKey[0] ^ masterKey[1]; }',
        'export function report(n: number): string { return `sum ${n}`; }',
        'export function main(): string { return report(checksum()); }',
        'export function unrelated(a: number): number { return a + 1; }',
        'masterKey = new Uint8Array(16);',
      ].join('\n'),
    });
    const a = analyze(dir);
    assert.deepEqual(names(a.slices.sees), ['checksum', 'main', 'report']);
    assert.equal(a.annotations.sources[0].line, 2);
  });

  it('tracks fields per declaring type: a sensitive field taints its readers, not readers of other fields', () => {
    const dir = writeApp({
      'vault.ts': [
        'export class Vault {',
        '  /** @sensitive */',
        '  key: Uint8Array = new Uint8Array(0);',
        '  name = "main";',
        '  open(k: Uint8Array): void { this.key = k; }',
        '  label(): string { return this.name; }',
        '  digest(): number { return this.key[0]; }',
        '}',
        'export class Other { key = 1; get(): number { return this.key; } }',
        'export function show(v: Vault): string { return v.label(); }',
        'export function leak(v: Vault): number { return v.digest(); }',
      ].join('\n'),
    });
    const a = analyze(dir);
    assert.deepEqual(names(a.slices.sees), ['Vault.digest', 'leak']);
    // open only writes the field: it can affect the key (integrity), it does not see it
    assert.deepEqual(names(a.slices.affects), ['Vault.open']);
  });

  it('tells objects apart by allocation site and by the object each call passes (fields per object)', () => {
    const stream = [
      'export class Stream {',
      '  private buf: number[] = [];',
      '  constructor() {}',
      '  write(b: number): void { this.buf.push(b); }',
      '  read(): number { return this.buf[0]; }',
      '}',
      '/** @sensitive */',
      'let key = 42;',
      // Writes the key into whatever stream it is given (private: only the calls below reach it).
      'class Writer { private put(s: Stream): void { s.write(key); } run(s: Stream): void { this.put(s); } }',
    ];
    const dir = writeApp({
      'app.ts': [
        ...stream,
        'export function secretStream(w: Writer): number { const s = new Stream(); w.run(s); return s.read(); }',
        'export function publicStream(): number { const s = new Stream(); s.write(7); return s.read(); }',
        'export function helper(s: Stream): number { return s.read(); }',
        'export function clearHelper(): number { const s = new Stream(); s.write(1); return helper(s); }',
        // Escapes into a field: its fields are the class fields, shared with every such object.
        'export class Holder { s = new Stream(); constructor() {} }',
        'export function held(h: Holder): number { return h.s.read(); }',
      ].join('\n'),
    });
    const a = analyze(dir);
    const sees = names(a.slices.sees);
    // The stream the key is written into is sensitive where it is read; another stream is not.
    assert.ok(sees.includes('secretStream'), sees.join(','));
    assert.ok(!sees.includes('publicStream'), sees.join(','));
    assert.ok(!sees.includes('clearHelper'), sees.join(','));
    // Soundness: Writer.run is public, so a caller outside the application may hand it any stream;
    // the key then reaches the class field, read by code that gets streams of unknown origin.
    assert.ok(sees.includes('held'), sees.join(','));
    assert.ok(sees.includes('Stream.read') && sees.includes('helper'), sees.join(','));
    // The per-object nodes are told apart in the graph and recorded as variants of the class field.
    const variants = [...(a.graph.fieldVariants.get('field:Stream.buf') ?? [])];
    assert.ok(variants.filter((v) => v.includes('@')).length >= 3, variants.join(','));
  });

  it('merges an allocation site whose object escapes, and keeps a private writer per call', () => {
    const dir = writeApp({
      'app.ts': [
        'export class Box {',
        '  private v = 0;',
        '  constructor() {}',
        '  set(x: number): void { this.v = x; }',
        '  get(): number { return this.v; }',
        '}',
        '/** @sensitive */',
        'let key = 42;',
        'let kept: Box | undefined;',
        'class Filler { private fill(b: Box, x: number): void { b.set(x); } secret(b: Box): void { this.fill(b, key); } plain(b: Box): void { this.fill(b, 1); } }',
        'const f = new Filler();',
        'export function a(): number { const b = new Box(); f.plain(b); return b.get(); }',
        'export function c(): number { const b = new Box(); f.secret(b); return b.get(); }',
        // Returned: it escapes, so it is one object with every Box the class field stands for.
        'export function made(): Box { const b = new Box(); return b; }',
        'export function stored(): number { const b = new Box(); kept = b; return b.get(); }',
        'export function other(x: Box): number { return x.get(); }',
      ].join('\n'),
    });
    const a = analyze(dir);
    const sees = names(a.slices.sees);
    assert.ok(sees.includes('c'), sees.join(','));
    // Filler.plain writes a clear value through the same private helper: its caller's box stays clear.
    assert.ok(!sees.includes('a'), sees.join(','));
    // Filler.secret is public: a box from outside gets the key, so the class field is sensitive,
    // and a box that escaped (`stored`) is one of those.
    assert.ok(sees.includes('other') && sees.includes('stored'), sees.join(','));
  });

  it('carries data through parameters and returns across functions', () => {
    const dir = writeApp({
      'flow.ts': [
        'function derive(p: string): string { return p.toUpperCase(); }',
        'function sink(s: string): number { return s.length; }',
        'function constant(): number { return derive("x").length; }',
        '/** @sensitive */',
        'function password(): string { return "hunter2"; }',
        'export function login(): number { const k = derive(password()); return sink(k); }',
        'export function other(): number { return constant(); }',
      ].join('\n'),
    });
    const a = analyze(dir);
    // derive is shared: its return is sensitive only at the call that passed it the password
    // (call and return matched per site), so constant and other stay outside
    assert.deepEqual(names(a.slices.sees), ['derive', 'login', 'password', 'sink']);
  });

  it('matches calls with returns, but not through state shared across frames', () => {
    const dir = writeApp({
      'ctx.ts': [
        'let last = "";',
        'function keep(s: string): string { last = s; return "k"; }',
        'function recall(): string { return last; }',
        'function hex(b: number[]): string { return b.join(""); }',
        'function outer(s: string): string {',
        '  let acc = "";',
        '  const put = (v: string): void => { acc = v; };',
        '  put(s);',
        '  return acc;',
        '}',
        '/** @sensitive */',
        'function secret(): string { return "s3"; }',
        'export function a(): number { keep(secret()); return 0; }',
        'export function b(): number { return hex([2]).length; }',
        'export function r(): number { return recall().length; }',
        'export function c(): number { return hex([secret().length]).length; }',
        'export function d(): number { return outer(secret()).length; }',
        'export function e(): number { return outer("x").length; }',
      ].join('\n'),
    });
    const a = analyze(dir);
    // hex returns the secret only to c (b stays out); keep stores it in module state, so every
    // reader of `last` sees it (recall, r); outer's closure shares outer's frame, so what it writes
    // there comes back from outer at that call only: d sees it, e does not
    assert.deepEqual(names(a.slices.sees), [
      'a',
      'c',
      'd',
      'hex',
      'keep',
      'outer',
      'put',
      'r',
      'recall',
      'secret',
    ]);
  });

  it('summarises library calls: a promise carries what its executor resolves, a decoder keeps nothing', () => {
    const dir = writeApp({
      'lib.ts': [
        'const decoder = new TextDecoder();',
        '/** @sensitive */',
        'let key = new Uint8Array(4);',
        'export function wrap(): Promise<Uint8Array> { return new Promise((resolve) => { resolve(key); }); }',
        'export async function later(): Promise<number> { const k = await wrap(); return k[0]; }',
        'export function text(): string { return decoder.decode(key); }',
        'export function plain(b: Uint8Array): string { return decoder.decode(b); }',
        'export function done(): Promise<number> { return wrap().then(() => 1); }',
        'export function list(): number[] { const out: number[] = []; out.push(key[0]); return out; }',
      ].join('\n'),
    });
    const a = analyze(dir);
    // resolve(key) reaches what wrap returns and later's await; decode hands its result back and
    // keeps nothing in the decoder (plain stays out); push stores into out; done holds wrap's
    // promise, but what it returns, then(() => 1), settles with 1
    assert.deepEqual(names(a.slices.sees), ['<anonymous>', 'done', 'later', 'list', 'text', 'wrap']);
    const done = [...a.graph.functions.keys()].find((id) => id.endsWith(':done'));
    assert.equal(a.slices.forward.has(`${done}#return`), false);
  });

  it('keeps nothing in a built-in buffer that slice or subarray copies from, but does in one set writes', () => {
    const dir = writeApp({
      'stream.ts': [
        '/** @sensitive */',
        'let key = new Uint8Array(4);',
        'const data = new ArrayBuffer(64);',
        'const view = new Uint8Array(data);',
        // The positions derive from the key; the copies do, the buffers they are taken from do not.
        'export function take(): ArrayBuffer { return data.slice(0, key[0]); }',
        'export function part(): Uint8Array { return view.subarray(key[1]); }',
        'export function peek(): number { return view[0]; }',
        // A method of the application's own named slice may keep its argument: it is not a built-in.
        'class Log { items: number[] = []; slice(n: number): Log { this.items.push(n); return this; } }',
        'const log = new Log();',
        'export function note(): Log { return log.slice(key[2]); }',
        'export function count(): number { return log.items.length; }',
        'const out = new Uint8Array(8);',
        'export function put(): void { out.set(key); }',
        'export function show(): number { return out[0]; }',
      ].join('\n'),
    });
    const a = analyze(dir);
    // peek reads a buffer only sliced from; count reads what Log.slice kept; show what set wrote
    assert.deepEqual(names(a.slices.sees), ['Log.slice', 'count', 'note', 'part', 'put', 'show', 'take']);
  });

  it('reads an accessor as a call of its getter and calls the implementation of an overload', () => {
    const dir = writeApp({
      'acc.ts': [
        'export class Box {',
        '  /** @sensitive */',
        '  private inner = "s";',
        '  get size(): number { return this.inner.length; }',
        '  set label(v: string) { this.inner = v; }',
        '}',
        'export function pad(s: string): string;',
        'export function pad(s: string, n: number): string;',
        'export function pad(s: string, n = 1): string { return s + " ".repeat(n); }',
        'export function measure(b: Box): number { return b.size; }',
        'export function relabel(b: Box): void { b.label = "x"; }',
        'export function shown(b: Box): string { return pad(String(b.size)); }',
        'export function other(): string { return pad("y"); }',
      ].join('\n'),
    });
    const a = analyze(dir);
    // b.size runs the getter (its return is sensitive); pad is reached through its overload and
    // returns the secret's length only to shown; relabel writes through the setter (integrity)
    assert.deepEqual(names(a.slices.sees), ['Box.size', 'measure', 'pad', 'shown']);
    assert.ok(names(a.slices.affects).includes('relabel'));
  });

  it('merges data passed through a callback with the function value and records it', () => {
    const dir = writeApp({
      'cb.ts': [
        'type Fn = (v: string) => number;',
        'function apply(cb: Fn, v: string): number { return cb(v); }',
        '/** @sensitive */ const secret = "s3cret";',
        'export function run(): number { return apply((x) => x.length, secret); }',
        'export function plain(n: number): number { return n * 2; }',
      ].join('\n'),
    });
    const a = analyze(dir);
    assert.ok(names(a.slices.sees).includes('<anonymous>'), 'the arrow passed as a callback sees the secret');
    assert.ok(names(a.slices.sees).includes('apply'));
    assert.ok(!names(a.slices.sees).includes('plain'));
    const loss = a.graph.precisionLoss.find((p) => p.reason === 'callback');
    assert.deepEqual([loss?.file, loss?.line], ['cb.ts', 2]);
  });

  it('stops forward flow at @declassify and lists the place', () => {
    const dir = writeApp({
      'vault.ts': [
        '/** @sensitive */ let entry = "pw";',
        '/** @declassify the owner sees the password */',
        'export function reveal(): string { return entry; }',
        'export function render(): string { return `<b>${reveal()}</b>`; }',
        'export function set(v: string): void { entry = v; }',
      ].join('\n'),
    });
    const a = analyze(dir);
    assert.deepEqual(names(a.slices.sees), ['reveal']);
    assert.deepEqual(
      a.annotations.declassified.map((d) => [d.file, d.line, d.scope]),
      [['vault.ts', 3, 'function']],
    );
  });

  it('finds who can affect sensitive data (backward slice)', () => {
    const dir = writeApp({
      'key.ts': [
        'function readPassword(): string { return "typed"; }',
        'function stretch(p: string): string { return p + p; }',
        '/** @sensitive */ let key = "";',
        'export function unlock(): void { key = stretch(readPassword()); }',
        'export function status(): string { return "ok"; }',
        'export function use(): number { return key.length; }',
      ].join('\n'),
    });
    const a = analyze(dir);
    assert.deepEqual(names(a.slices.affects), ['readPassword', 'stretch', 'unlock']);
    assert.ok(!a.slices.affects.has(findFunction(a, 'status')));
    assert.ok(a.slices.sees.has(findFunction(a, 'use')));
  });

  it('takes a Sensitive<T> type as a source', () => {
    const dir = writeApp({
      'typed.ts': [
        'type Sensitive<T> = T;',
        'export function keyOf(seed: Sensitive<string>): number { return seed.length; }',
        'export function size(n: number): number { return n; }',
      ].join('\n'),
    });
    const a = analyze(dir);
    assert.deepEqual(names(a.slices.sees), ['keyOf']);
    assert.equal(a.annotations.sources[0].how, 'type');
  });

  it('explains the path from the source to a function, file:line per step', () => {
    const dir = writeApp({
      'p.ts': [
        '/** @sensitive */',
        'const token = "t";',
        'function wrap(t: string): string { return t + "!"; }',
        'function framed(): string { return wrap(token); }',
        'export function send(): number { const w = framed(); return w.length; }',
      ].join('\n'),
    });
    const a = analyze(dir);
    const steps = explainPath(a, findFunction(a, 'send'));
    assert.deepEqual(
      steps.map((s) => `${s.file}:${s.line} ${s.why}`),
      [
        'p.ts:2 sensitive source',
        'p.ts:4 argument 1 of wrap',
        'p.ts:4 through wrap (its parameter reaches its return)',
        'p.ts:4 return',
        'p.ts:5 return of framed',
      ],
    );
  });
});

describe('partition analysis (JavaScript with JSDoc, CommonJS)', () => {
  it('resolves require/module.exports calls and follows the data into the callee', () => {
    const dir = writeApp({
      'package.json': '{ "name": "js-app", "files": ["lib"] }',
      'lib/util.js': [
        "'use strict';",
        '/** @param {string} s */',
        'function hash(s) { return s.split("").reverse().join(""); }',
        'function idle() { return 0; }',
        'module.exports = { hash, idle };',
      ].join('\n'),
      'lib/main.js': [
        "'use strict';",
        "const util = require('./util');",
        '/** @sensitive */',
        'const clientSecret = process.env.SECRET || "x";',
        'function token() { return util.hash(clientSecret); }',
        'function noop() { return util.idle(); }',
        'module.exports = { token, noop };',
      ].join('\n'),
    });
    const a = analyze(dir);
    assert.deepEqual(names(a.slices.sees), ['hash', 'token']);
  });

  it('falls back for any and computed keys, merging fields, and records each place', () => {
    const dir = writeApp({
      'package.json': '{ "name": "dyn", "files": ["index.js"] }',
      'index.js': [
        "'use strict';",
        '/** @sensitive */',
        'const secret = "k";',
        'const table = {};',
        'function put(name) { table[name] = secret; }',
        'function get(name) { return table[name]; }',
        'function viaAny(o) { o.pin = secret; }',
        'function readAny(o) { return o.pin; }',
        'function unrelated(o) { return o.other; }',
        'module.exports = { put, get, viaAny, readAny, unrelated };',
      ].join('\n'),
    });
    const a = analyze(dir);
    assert.deepEqual(names(a.slices.sees), ['get', 'put', 'readAny', 'viaAny']);
    const reasons = a.graph.precisionLoss.map((p) => `${p.reason}@${p.line}`);
    assert.ok(
      reasons.includes('dynamic-property@5') && reasons.includes('dynamic-property@6'),
      reasons.join(' '),
    );
    assert.ok(reasons.includes('any@7') && reasons.includes('any@8'), reasons.join(' '));
  });

  it('records eval, new Function and require(expr) as places where precision is given up', () => {
    const dir = writeApp({
      'package.json': '{ "name": "ev", "files": ["e.js"] }',
      'e.js': [
        "'use strict';",
        '/** @sensitive */ const k = "x";',
        'function a() { return eval("k"); }',
        'function b(m) { return require(m); }',
        'function c() { return new Function("return 1")(); }',
        'module.exports = { a, b, c, k };',
      ].join('\n'),
    });
    const a = analyze(dir);
    const got = a.graph.precisionLoss.map((p) => `${p.reason}@${p.line}`).sort();
    assert.ok(
      got.includes('eval@3') && got.includes('dynamic-require@4') && got.includes('eval@5'),
      got.join(' '),
    );
  });
});
