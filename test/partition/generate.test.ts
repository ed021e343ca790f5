// Code generation on a small TypeScript program: the host copy keeps only host code and stubs, the
// enclave copy registers its entries with the generated dispatcher, whose checks come from the
// interface file. The channel between them here is an in-process TEST DOUBLE (structured clones of
// every request and reply, AES-GCM sealing with a test key), not the enclave: the real
// `EnclaveChannel` is backed by the JavaScript enclave once it lands.
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { before, describe, it } from 'node:test';
import { analyze } from '../../src/partition/analyze.ts';
import { parseInterface } from '../../src/partition/interface-file.ts';
import { writePartitioned } from '../../src/partition/generate.ts';
import { planPartition } from '../../src/partition/plan.ts';
import { writeApp } from './helpers.ts';

const VAULT = `
/** @sensitive */
let masterKey: Uint8Array = new Uint8Array(0);
const events: string[] = [];
export function audit(what: string): void { events.push(what); }
export function auditLog(): string[] { return [...events]; }
export function unlock(password: string): number {
  masterKey = new TextEncoder().encode(password + ':stretched');
  audit('unlock');
  return masterKey.length;
}
export function checksum(): number { let s = 0; for (const b of masterKey) s = (s + b) % 251; return s; }
/** @sensitive */
export function exportKey(): Uint8Array { return masterKey.slice(); }
/** @declassify the owner may see the first letter */
export function hint(): string { return String.fromCharCode(masterKey[0]); }
export function greet(name: string): string { return 'hello ' + name; }
export function digits(b: Uint8Array): string { return Array.from(b).join('.'); }
export function byteLength(b: ArrayBuffer): number { return b.byteLength; }
export function keyDigits(): number { return digits(masterKey).length + byteLength(keyBuffer()); }
/** @sensitive */
export function keyBuffer(): ArrayBuffer { return masterKey.slice().buffer; }
export class Keyring {
  /** @sensitive */
  private keys = new Map<string, string>();
  add(k: string, v: string): number { this.keys.set(k, v); return this.keys.size; }
}
class Tally { hits = 0; note(): number { this.hits += 1; return this.hits; } }
export function tallyKey(): number { const t = new Tally(); t.note(); return t.note() + masterKey.length; }
export function lend(cb: (key: string) => void, sink: { put(key: string, n: number): void }): void {
  const phrase = new TextDecoder().decode(masterKey);
  cb(phrase);
  sink.put(phrase, phrase.length);
  const local = (k: string): number => k.length;
  sink.put('n', local(phrase));
  /** @declassify the owner's own backup */
  sink.put(phrase, 0);
}
export class Shelf {
  got: unknown[] = [];
  put(k: unknown): void { this.got.push(k); }
}
export function shelve(shelf: any): void { shelf.put(new TextDecoder().decode(masterKey)); }
export class Locker {
  /** @sensitive */
  pin = '';
  set code(v: string) { this.pin = v; }
  get first(): string { return this.pin.slice(0, 1); }
  static make(pin: string): Locker { const l = new Locker(); l.code = pin; return l; }
}
/** @declassify the tag names and their numbers are public */
export function keyTags(names: string[]): Map<string, number> {
  return new Map(names.map((n, i) => [n, i + masterKey.length]));
}
export function tagTotal(tags: Map<string, number>): number {
  let s = masterKey.length;
  for (const v of tags.values()) s += v;
  return s;
}
/** @sensitive */
export function keySet(): Set<number> { return new Set(masterKey); }
export function setSize(s: Set<number>): number { return s.size; }
export function keySetSize(): number { return setSize(keySet()); }
`;

type Sealed = { __cloisterSealed: string };
interface EnclaveSide {
  callSync(name: string, request: unknown): unknown;
  call(name: string, request: unknown): Promise<unknown>;
}

describe('generated partition (in-process test double for the enclave channel)', () => {
  const key = randomBytes(32);
  const seal = (bytes: Uint8Array): string => {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([c.update(bytes), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
  };
  const unseal = (text: string): Uint8Array => {
    const raw = Buffer.from(text, 'base64');
    const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(12, 28));
    return new Uint8Array(Buffer.concat([d.update(raw.subarray(28)), d.final()]));
  };
  const opened = (v: unknown): unknown => {
    const bytes = unseal((v as Sealed).__cloisterSealed);
    return bytes[0] === 1 ? bytes.subarray(1) : JSON.parse(new TextDecoder().decode(bytes.subarray(1)));
  };
  let out = '';
  let host: Record<string, (...a: unknown[]) => unknown>;
  let enclave: EnclaveSide;
  /** The exits the enclave made, by name. */
  const exits: string[] = [];

  before(async () => {
    const dir = writeApp({ 'vault.ts': VAULT });
    out = join(writeApp({}), 'partitioned');
    const analysis = analyze(dir);
    const plan = planPartition(analysis);
    writePartitioned(analysis, plan, out);
    const require = createRequire(import.meta.url);
    const enclaveRuntime = require(join(out, 'enclave/cloister/enclave-runtime.cjs')) as {
      install: (o: unknown) => EnclaveSide;
    };
    const hostRuntime = require(join(out, 'host/cloister/host-runtime.cjs')) as {
      install: (c: unknown) => void;
      serveExit: (n: string, r: unknown) => unknown;
    };
    enclave = enclaveRuntime.install({
      host: {
        callSync: (n: string, r: unknown) => {
          exits.push(n);
          return structuredClone(hostRuntime.serveExit(n, structuredClone(r)));
        },
      },
      seal,
      unseal,
    });
    hostRuntime.install({
      callSync: (n: string, r: unknown) => structuredClone(enclave.callSync(n, structuredClone(r))),
      call: async (n: string, r: unknown) => structuredClone(await enclave.call(n, structuredClone(r))),
    });
    await import(pathToFileURL(join(out, 'enclave/vault.ts')).href);
    host = (await import(pathToFileURL(join(out, 'host/vault.ts')).href)) as typeof host;
  });

  it('writes the interface file with entries, schemas and crossings', () => {
    const iface = parseInterface(readFileSync(join(out, 'interface.json'), 'utf8'));
    const byName = new Map(iface.entries.map((e) => [e.name, e]));
    assert.deepEqual([...byName.keys()].sort(), [
      'Keyring.add',
      'Locker.code',
      'Locker.first',
      'Locker.make',
      'byteLength',
      'checksum',
      'digits',
      'exportKey',
      'hint',
      'keyBuffer',
      'keyDigits',
      'keySet',
      'keySetSize',
      'keyTags',
      'lend',
      'setSize',
      'shelve',
      'tagTotal',
      'tallyKey',
      'unlock',
    ]);
    assert.deepEqual(byName.get('unlock')?.params, [
      { name: 'password', schema: { type: 'string' }, crossing: 'clear' },
    ]);
    assert.equal(byName.get('exportKey')?.returns.crossing, 'sealed');
    assert.equal(byName.get('hint')?.returns.crossing, 'declassified');
    assert.equal(byName.get('digits')?.returns.fromArguments, true, 'sensitive only through its argument');
    assert.equal(byName.get('keyDigits')?.returns.fromArguments, undefined, 'reads the key itself');
    assert.deepEqual(
      iface.declassified.map((d) => `${d.line}:${d.scope}`),
      ['16:function', '37:call', '52:function'],
      'every declassification is listed',
    );
    assert.deepEqual(byName.get('checksum')?.requires, ['vault.ts#masterKey']);
    assert.deepEqual(
      iface.exits.map((e) => `${e.target}(${e.args.map((a) => a.crossing).join(', ')})`).sort(),
      [
        'Tally.note()',
        'Tally.note()',
        'audit()',
        'cb(sealed)',
        'shelf.put(sealed)',
        'sink.put(clear, sealed)',
        'sink.put(declassified, clear)',
        'sink.put(sealed, sealed)',
      ],
    );
  });

  it('runs the accessors of an enclave class inside: the host object has no sensitive field', () => {
    const Locker = host.Locker as unknown as new () => { code: string; first: unknown };
    const locker = new Locker();
    locker.code = '4321';
    assert.equal(opened(locker.first), '4', 'the getter ran on the enclave mirror; its result left sealed');
    assert.notEqual((locker as unknown as { pin: string }).pin, '4321', 'the host object never held the pin');
    const made = (host.Locker as unknown as { make(p: string): { first: unknown } }).make('987');
    assert.equal(opened(made.first), '9', 'an object the enclave built keeps its fields in its mirror');
  });

  it('leaves the enclave code out of the host copy', () => {
    const hostText = readFileSync(join(out, 'host/vault.ts'), 'utf8');
    const enclaveText = readFileSync(join(out, 'enclave/vault.ts'), 'utf8');
    assert.ok(!hostText.includes(':stretched') && enclaveText.includes(':stretched'));
    assert.ok(!enclaveText.includes("'hello ' + name"), 'host-only code is not in the enclave copy');
  });

  it('refuses an entry called before the state it reads was set (call order)', () => {
    assert.throws(() => host.checksum(), /refused: checksum called before vault\.ts#masterKey was set/);
  });

  it('runs enclave functions through the channel; sensitive results come back sealed, declassified ones clear', () => {
    const length = host.unlock('pw');
    assert.equal(opened(length), 'pw:stretched'.length);
    assert.deepEqual(host.auditLog(), ['unlock'], 'the enclave called the host function back (exit)');
    assert.equal(host.greet('x'), 'hello x');
    assert.equal(host.hint(), 'p');
    const exported = host.exportKey() as Sealed;
    assert.ok(!Buffer.from(exported.__cloisterSealed, 'base64').toString('latin1').includes('stretched'));
    assert.equal(Buffer.from(opened(exported) as Uint8Array).toString(), 'pw:stretched');
    assert.equal(typeof opened(host.checksum()), 'number');
  });

  it('returns a utility result in clear for clear arguments, sealed for sealed ones (attack: laundering a sealed value)', () => {
    host.unlock('pw');
    assert.equal(host.digits(new Uint8Array([1, 2])), '1.2', 'clear bytes from the host: a clear result');
    assert.equal(host.byteLength(new ArrayBuffer(3)), 3);
    const sealed = host.exportKey();
    const laundered = host.digits(sealed) as Sealed;
    assert.ok(
      typeof laundered === 'object' && '__cloisterSealed' in laundered,
      'a sealed argument gives a sealed result',
    );
    assert.equal(opened(laundered), Array.from(Buffer.from('pw:stretched')).join('.'));
    // A sealed ArrayBuffer keeps its bytes across the seal (it was sealed as an empty object).
    assert.equal(opened(host.byteLength(host.keyBuffer())), 'pw:stretched'.length);
  });

  it('runs a host method on an object the enclave made and kept inside (the host has no such object)', () => {
    host.unlock('pw');
    assert.equal(opened(host.tallyKey()), 2 + 'pw:stretched'.length);
  });

  it('gives the mirror of an object the host built the fields its class initialises (a Map kept inside)', () => {
    const Keyring = host.Keyring as unknown as new () => { add(k: string, v: string): unknown };
    const ring = new Keyring();
    assert.equal(opened(ring.add('a', 'x')), 1);
    assert.equal(opened(ring.add('b', 'y')), 2, 'the same mirror, its Map kept');
    const own = (ring as unknown as { keys?: Map<string, string> }).keys;
    assert.equal(own?.size, 0, 'the host object keeps its own empty Map: the keys stay inside');
  });

  it('carries Maps and Sets with their entries, in clear, sealed and from the host', () => {
    host.unlock('pw');
    const n = 'pw:stretched'.length;
    const tags = host.keyTags(['a', 'b']) as Map<string, number>;
    assert.ok(tags instanceof Map, 'a Map, not the {} of its enumerable keys');
    assert.deepEqual(
      [...tags],
      [
        ['a', n],
        ['b', n + 1],
      ],
    );
    assert.equal(
      opened(
        host.tagTotal(
          new Map([
            ['x', 2],
            ['y', 3],
          ]),
        ),
      ),
      n + 5,
      'a host Map copied in, iterable',
    );
    const sealed = host.keySet();
    assert.ok((sealed as Partial<Sealed>).__cloisterSealed !== undefined, 'a sensitive Set leaves sealed');
    const distinct = new Set(new TextEncoder().encode('pw:stretched')).size;
    assert.equal(opened(host.setSize(sealed)), distinct, 'and is a Set again inside');
  });

  it('hands a sensitive value to a host callback or host object only sealed (attack: the host collects what it is given)', () => {
    host.unlock('pw');
    const seen: unknown[] = [];
    const put: unknown[][] = [];
    host.lend((k: unknown) => seen.push(k), { put: (...a: unknown[]) => put.push(a) });
    assert.equal(seen.length, 1);
    assert.equal(put.length, 3);
    const given = [seen[0], put[0][0], put[0][1]];
    for (const v of given) {
      assert.equal(typeof v, 'object', 'ciphertext, not the value');
      assert.ok(!JSON.stringify(v).includes('stretched'));
    }
    assert.equal(opened(given[0]), 'pw:stretched', 'it is the value, sealed with the enclave key');
    assert.equal(opened(given[1]), 'pw:stretched');
    assert.equal(opened(given[2]), 'pw:stretched'.length);
    assert.equal(put[1][0], 'n', 'a clear argument stays clear');
    assert.equal(opened(put[1][1]), 12, "the secret's length is derived from it: sealed too");
    assert.deepEqual(put[2], ['pw:stretched', 0], 'a @declassify statement passes it in clear');
  });

  it("calls a host object's method in one exit: its method names cross with it", () => {
    host.unlock('pw');
    const put: unknown[][] = [];
    const sink = { put: (...a: unknown[]) => put.push(a) };
    exits.length = 0;
    host.lend(() => undefined, sink);
    assert.equal(put.length, 3);
    assert.deepEqual(
      exits,
      Array(4).fill('__cloisterHostCall'),
      'the callback and three puts, no reads first',
    );
  });

  it("hands a sensitive value to a host class's method on the enclave's copy of its object only sealed", () => {
    host.unlock('pw');
    const Shelf = host.Shelf as unknown as new () => { got: unknown[] };
    const shelf = new Shelf();
    host.shelve(shelf);
    assert.equal(shelf.got.length, 1, "the method ran on the host's object");
    assert.ok(!JSON.stringify(shelf.got).includes('stretched'));
    assert.equal(opened(shelf.got[0]), 'pw:stretched');
  });

  it('refuses calls that are not entries, wrong types and malformed requests, and keeps serving', () => {
    assert.throws(() => enclave.callSync('greet', { args: ['x'] }), /refused: greet is not an entry/);
    assert.throws(
      () => enclave.callSync('unlock', { args: [42] }),
      /refused: unlock: password: expected string, got number/,
    );
    assert.throws(() => enclave.callSync('unlock', { args: ['a', 'b'] }), /too many arguments/);
    assert.throws(() => enclave.callSync('unlock', null), /malformed request/);
    assert.throws(() => enclave.callSync('unlock', { args: [{ __cloisterHandle: 99 }] }), /unknown handle/);
    assert.throws(() => enclave.callSync('unlock', { args: [{ __cloisterSealed: 'AAAA' }] }));
    assert.equal(host.hint(), 'p', 'the enclave still answers after refusals');
  });
});
