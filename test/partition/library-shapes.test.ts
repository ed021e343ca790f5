// Shapes of real CommonJS libraries (node-forge's) that the partitioned build must load and run in
// the real JavaScript enclave (sim backend): module top-level code that calls a host function while
// the module loads (an IIFE finding the global scope through `self` when there is no `process`), and
// functions assigned to namespace properties (`api.fingerprint = function …`) as entries and exits.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JsEnclave } from '../../src/host/js-enclave.ts';
import { analyze } from '../../src/partition/analyze.ts';
import { bundlePartitionedEnclave } from '../../src/partition/enclave-bundle.ts';
import { writePartitioned } from '../../src/partition/generate.ts';
import { startPartitionedEnclave } from '../../src/partition/host-start.ts';
import { planPartition } from '../../src/partition/plan.ts';
import { platformPath } from '../attest/helpers/sim.ts';
import { writeApp } from './helpers.ts';

const UTIL = `'use strict';
var util = (module.exports = {});
util.isNodejs = typeof process !== 'undefined' && !!process.versions;
// As node-forge's util.globalScope: runs while the module loads, on both sides.
util.globalScope = (function () {
  if (util.isNodejs) return global;
  return typeof self === 'undefined' ? window : self;
})();
util.hasScope = function () {
  return typeof util.globalScope === 'object' && util.globalScope !== null;
};
`;

const KEY = `'use strict';
var util = require('./util');
var api = (module.exports = {});
/** @sensitive */
var secret = 'k3y';
api.fingerprint = function (n) {
  /** @declassify the test reads a length */
  return secret.length + n + (util.hasScope() ? 100 : 0);
};
// As forge's prng.create(plugin): a host object whose member is the host's stub of an entry.
api.withPlugin = function (plugin) {
  /** @declassify the test reads a length */
  return secret.length + plugin.md.create();
};
// As forge's pbkdf2(..., callback): the enclave calls the caller's callback (an exit), which
// calls back in (util.bytesToHex) while the enclave waits for it.
api.withCallback = function (callback) {
  /** @declassify the test reads a length */
  return callback(2) + secret.length;
};
// As forge's pbkdf2 without Node's crypto: the callback runs on a later turn, after the reply.
api.later = function (callback) {
  setTimeout(function () {
    callback(2);
  }, 0);
  /** @declassify the test reads a length */
  return secret.length;
};
// An async API over a timer: the callback calls out, then the promise the caller awaits settles.
api.whenReady = function (callback) {
  return new Promise(function (resolve) {
    setTimeout(function () {
      callback(1);
      resolve(secret.length);
    }, 5);
  });
};
`;

const MD = `'use strict';
var md = (module.exports = {});
/** @sensitive */
var pepper = 'pp';
md.create = function () {
  /** @declassify the test reads a length */
  return pepper.length * 10;
};
// As forge's md.sha256.create(): an object literal whose methods close over state inside.
md.hasher = function () {
  var total = pepper.length;
  var h = { count: 0 };
  h.update = function (n) {
    total += n;
    h.count++;
    return h;
  };
  h.digest = function () {
    /** @declassify the test reads a sum */
    return total;
  };
  /** @declassify the object leaves; its state stays in its closures */
  return h;
};
md.finish = function (h) {
  /** @declassify the test reads a sum */
  return h.digest() + pepper.length;
};
`;

const BIG = `'use strict';
/** @sensitive */
var limit = 1000;
var ns = (module.exports = {});
// An ES5 class, as forge's util.ByteStringBuffer: a constructor function exported on a namespace,
// and methods on its prototype through that namespace.
function Big(v) {
  if (v > limit) throw new RangeError('too big');
  this.data = [v];
}
ns.Big = Big;
function bigAdd(other) {
  if (this.data[0] + other.data[0] > limit) throw new RangeError('too big');
  return new Big(this.data[0] + other.data[0]);
}
ns.Big.prototype.add = bigAdd;
ns.Big.prototype.value = function () {
  return limit > 0 ? this.data[0] : 0;
};
ns.Big.prototype.twice = function () {
  return this.add(this);
};
`;

const HEX = `'use strict';
/** @sensitive */
var token = 'tok';
var hex = (module.exports = {});
// As forge's util.bytesToHex: a utility the enclave also calls with the secret; its result is
// sensitive only at such calls.
hex.toHex = function (s) {
  var out = '';
  for (var i = 0; i < s.length; i++) out += s.charCodeAt(i).toString(16);
  return out;
};
hex.token = function () {
  return token;
};
// Reads the secret only to test it: its result is clear by the analysis.
hex.size = function (s) {
  return token === '' ? -1 : s.length;
};
// As forge's pss.create(options) that also takes (md, mgf, saltLength) through \`arguments\`.
hex.count = function (first) {
  return token === '' ? -1 : arguments.length + (first === undefined ? 0 : 0);
};
hex.tokenHexLength = function () {
  /** @declassify the test reads a length */
  return hex.toHex(token).length;
};
`;

const VAULT = `'use strict';
/** @sensitive */
var master = 'm4st3r';
var vault = (module.exports = {});
// An ES5 class whose constructor puts a secret in a field (as forge's ByteStringBuffer.data).
function Box(label) {
  this.label = label;
  this.inner = master + '/' + label;
}
vault.Box = Box;
Box.prototype.matches = function (guess) {
  /** @declassify the test reads whether a guess matched */
  return this.inner === master + '/' + guess;
};
vault.open = function (label) {
  return new Box(label);
};
`;

const KEYS = `'use strict';
/** @sensitive */
var seed = 's33d';
var keys = (module.exports = {});
// As forge's pki.setRsaPrivateKey: a plain object holding a secret, with its own methods.
keys.create = function (label) {
  var key = { label: label, secret: seed + '/' + label };
  key.sign = function (m) {
    return m + ':' + key.secret;
  };
  key.check = function (m) {
    /** @declassify the test reads whether a signature verifies */
    return m === label + ':' + key.secret;
  };
  return key;
};
`;

const CIPHER = `'use strict';
/** @sensitive */
var key = 'k3y';
var ns = (module.exports = {});
// As forge's cipher.BlockCipher and cipher.modes.ecb: ES5 classes assigned to namespace paths.
var Cipher = (ns.Cipher = function (tag) {
  this.tag = tag;
  this.key = key + tag;
  this.output = '';
});
Cipher.prototype.update = function (s) {
  this.output += s + this.key.length;
};
Cipher.prototype.finish = function () {
  /** @declassify the test reads the output */
  return this.output;
};
ns.create = function (tag) {
  return new ns.Cipher(tag);
};
// A prototype method that sees no secret (host code), called on an instance the enclave made and
// kept. It counts its calls: not a pure helper, which the enclave would run as its own copy.
var kinds = 0;
Cipher.prototype.kind = function () {
  kinds++;
  return 'cipher';
};
ns.inner = function () {
  var c = new Cipher('i');
  /** @declassify the test reads a length */
  return c.kind().length + c.key.length;
};
`;

describe('library shapes in the partitioned build', () => {
  const platform = platformPath();
  let enclave: JsEnclave | undefined;
  let out = '';
  const uncaught: Error[] = [];

  before(async () => {
    const dir = writeApp({
      'package.json': '{ "name": "shapes", "main": "lib/key.js", "files": ["lib"] }',
      'lib/util.js': UTIL,
      'lib/key.js': KEY,
      'lib/md.js': MD,
      'lib/big.js': BIG,
      'lib/hex.js': HEX,
      'lib/vault.js': VAULT,
      'lib/keys.js': KEYS,
      'lib/cipher.js': CIPHER,
    });
    out = join(writeApp({}), 'partitioned');
    const analysis = analyze(dir);
    const plan = planPartition(analysis);
    assert.ok(plan.enclave.has('lib/key.js:6:api.fingerprint'), [...plan.enclave.keys()].join(' '));
    assert.ok(![...plan.enclave.keys()].some((f) => f.startsWith('lib/util.js:')), 'util is host code');
    writePartitioned(analysis, plan, out);
    await bundlePartitionedEnclave(out, 'shapes');
  });
  after(async () => {
    await enclave?.close();
    rmSync(dirname(platform), { recursive: true, force: true });
  });

  it('loads in the enclave although a host function runs at module load; namespace functions are entries and exits', async () => {
    enclave = await startPartitionedEnclave(join(out, 'host'), {
      platformPath: platform,
      syncTimeoutMs: 30_000,
      onUncaught: (error) => uncaught.push(error),
    });
    const host = createRequire(join(out, 'host', 'package.json'))('./lib/key.js') as {
      fingerprint(n: number): number;
    };
    // 3 + 1, and the enclave's copy of util found a global scope (100) without `process`
    assert.equal(host.fingerprint(1), 104);
    const hostCopy = readFileSync(join(out, 'host', 'lib', 'key.js'), 'utf8');
    assert.match(hostCopy, /api\.fingerprint = function \(n\) \{ return globalThis\.__cloister\.enter\(/);
    assert.doesNotMatch(hostCopy, /secret\.length/, 'the host copy does not hold the function body');
  });

  it("calls its own function for a host object's member that is the host's stub of an entry (no re-entry)", () => {
    const require = createRequire(join(out, 'host', 'package.json'));
    const key = require('./lib/key.js') as { withPlugin(p: unknown): number };
    const md = require('./lib/md.js') as { create(): number };
    assert.equal(md.create(), 20, 'the stub enters the enclave from the host');
    // Inside withPlugin the enclave reads plugin.md.create from the host: the stub, called from an
    // exit, would re-enter the enclave while it waits ("busy"); the enclave calls its md.create.
    assert.equal(key.withPlugin({ md }), 3 + 20);
  });

  it('serves an entry called from a host callback while the enclave waits for that callback (nested), and keeps serving', () => {
    const require = createRequire(join(out, 'host', 'package.json'));
    const key = require('./lib/key.js') as {
      withCallback(cb: (n: number) => number): number;
      fingerprint(n: number): number;
    };
    const md = require('./lib/md.js') as { create(): number };
    const Big = (require('./lib/big.js') as { Big: new (v: number) => { value(): number } }).Big;
    const seen: number[] = [];
    // Inside the exit, two entries: md.create (20) and a nested withCallback whose own callback
    // enters again (fingerprint(0): 3 + 0 + 100), each withCallback adding the secret's length (3).
    const result = key.withCallback((n) => {
      seen.push(n);
      return md.create() + key.withCallback((m) => key.fingerprint(m - 2));
    });
    assert.deepEqual(seen, [2]);
    assert.equal(result, 20 + (103 + 3) + 3);
    // A nested call the enclave's checks refuse fails that call only; the exit's caller sees the error.
    assert.throws(
      () => key.withCallback(() => new Big(5000).value()),
      (e: Error) => e instanceof RangeError && e.message === 'too big',
    );
    // Nesting deeper than the enclave allows is refused, and the enclave keeps serving.
    const deep = (d: number): number => key.withCallback(() => (d > 0 ? deep(d - 1) : 0));
    assert.throws(() => deep(20), /nested more than 8 deep/);
    assert.equal(key.fingerprint(1), 104, 'the enclave still serves calls');
    assert.equal(enclave!.entries.length > 0, true);
  });

  it('serves a nested entry from a callback the enclave calls from a timer, whatever state the channel is in', async () => {
    const require = createRequire(join(out, 'host', 'package.json'));
    const key = require('./lib/key.js') as {
      later(cb: (n: number) => void): number;
      fingerprint(n: number): number;
    };
    const md = require('./lib/md.js') as { create(): number };
    // The host serves the timer's exit during its next call: the channel then holds that call's
    // request, or the reply not yet collected; either must survive the nested md.create.
    for (let round = 0; round < 10; round++) {
      const got: number[] = [];
      assert.equal(
        key.later((n) => {
          got.push(md.create() + n);
        }),
        3,
      );
      for (let i = 0; i < 100 && got.length === 0; i++) {
        assert.equal(key.fingerprint(round), 103 + round);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      assert.deepEqual(got, [22]);
    }
  });

  it("serves a timer's exit, and the entry its callback calls, while the host makes no call (node-forge's async pbkdf2)", async () => {
    const require = createRequire(join(out, 'host', 'package.json'));
    const key = require('./lib/key.js') as { later(cb: (n: number) => void): number };
    const md = require('./lib/md.js') as { create(): number };
    const got: number[] = [];
    let timer: NodeJS.Timeout | undefined;
    // The host waits on its own timer only: before, the exit waited for the host's next call.
    const served = new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error('the timer exit was not served while the host was idle')),
        20_000,
      );
      assert.equal(
        key.later((n) => {
          got.push(md.create() + n);
          resolve();
        }),
        3,
      );
    });
    await served.finally(() => clearTimeout(timer));
    assert.deepEqual(got, [22]);
  });

  it('settles a promise the host awaits after the timer behind it has called out', async () => {
    const require = createRequire(join(out, 'host', 'package.json'));
    const key = require('./lib/key.js') as { whenReady(cb: (n: number) => void): Promise<unknown> };
    const order: string[] = [];
    const ready = key.whenReady((n) => order.push(`callback ${n}`));
    const value = await ready;
    order.push('settled');
    assert.deepEqual(order, ['callback 1', 'settled']);
    assert.ok(
      typeof value === 'object' && value !== null && '__cloisterSealed' in value,
      "what the promise resolves to (the secret's length) leaves sealed",
    );
  });

  it('an error a host callback throws into a timer of the enclave ends that task, reaches the host, and the enclave serves on', async () => {
    const require = createRequire(join(out, 'host', 'package.json'));
    const key = require('./lib/key.js') as { later(cb: () => void): number; fingerprint(n: number): number };
    uncaught.length = 0;
    assert.equal(
      key.later(() => {
        throw new RangeError('the callback failed');
      }),
      3,
    );
    // The timer's exit is served during a later call; then the enclave must still answer.
    for (let i = 0; i < 100 && uncaught.length === 0; i++) {
      assert.equal(key.fingerprint(1), 104);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.deepEqual(
      uncaught.map((e) => [e.name, e.message]),
      [['RangeError', 'the callback failed']],
    );
    assert.equal(key.fingerprint(2), 105, 'the enclave did not stop');
  });

  it("returns an object the enclave made with its own methods: stubs that run them on the enclave's object", () => {
    const require = createRequire(join(out, 'host', 'package.json'));
    type Hasher = { count: number; update(n: number): Hasher; digest(): number };
    const md = require('./lib/md.js') as { hasher(): Hasher; finish(h: Hasher): number };
    const h = md.hasher();
    assert.equal(typeof h.update, 'function');
    assert.equal(h.update(1).update(2), h, 'a method returning its object gives the same host copy');
    assert.equal(h.count, 2, 'the fields the method changed are written back');
    assert.equal(h.digest(), 2 + 3);
    assert.equal(md.finish(h), 5 + 2, "the copy handed back in is the enclave's own object");
    const other = md.hasher();
    other.update(10);
    assert.equal(h.digest(), 5, 'each object keeps its own state');
    assert.equal(other.digest(), 12);
    // A host forging calls: an object never handed out, a function that is not the object's own.
    for (const [handle, method] of [
      [-9999, 'digest'],
      [-1, 'toString'],
      [-1, 'constructor'],
      [1, 'digest'],
    ] as const)
      assert.throws(
        () =>
          enclave!.callSync('enterSync', [
            '__cloisterMirrorMethod',
            { receiver: { handle }, args: [method] },
          ]),
        /refused: (method call on an unknown object|the object has no method)/,
      );
    assert.equal(h.digest(), 5, 'the enclave keeps serving');
  });

  it('builds and calls instances of an ES5 class in the enclave: new, prototype methods with this, results by class', () => {
    const Big = (createRequire(join(out, 'host', 'package.json'))('./lib/big.js') as { Big: unknown })
      .Big as new (v: number) => {
      data: number[];
      add(o: unknown): { data: number[]; value(): number; twice(): { data: number[] } };
      value(): number;
    };
    const hostCopy = readFileSync(join(out, 'host', 'lib', 'big.js'), 'utf8');
    assert.doesNotMatch(hostCopy, /this\.data = \[v\]/, 'the constructor runs in the enclave');
    const a = new Big(2);
    assert.deepEqual(a.data, [2], 'the fields the enclave set are written back');
    const sum = a.add(new Big(3));
    assert.ok(sum instanceof Big, "an instance the enclave made comes back as the host's class");
    assert.deepEqual(sum.data, [5]);
    assert.equal(sum.value(), 5);
    assert.deepEqual(sum.twice().data, [10]);
    assert.throws(
      () => new Big(5000),
      (e: Error) => e instanceof RangeError && e.message === 'too big',
    );
    assert.throws(() => sum.add(new Big(999)), RangeError, 'a method of an instance the enclave made');
  });

  it("lets a utility's result out in clear only when the call brought no enclave data in (per-call sealing)", () => {
    const iface = JSON.parse(readFileSync(join(out, 'interface.json'), 'utf8')) as {
      entries: { name: string; returns: { crossing: string; fromArguments?: boolean } }[];
    };
    const toHexEntry = iface.entries.find((e) => e.name === 'hex.toHex');
    assert.deepEqual(toHexEntry?.returns, {
      ...toHexEntry?.returns,
      crossing: 'sealed',
      fromArguments: true,
    });
    const tokenEntry = iface.entries.find((e) => e.name === 'hex.token');
    assert.equal(
      tokenEntry?.returns.fromArguments,
      undefined,
      'a secret read from state is sealed at every call',
    );
    const hex = createRequire(join(out, 'host', 'package.json'))('./lib/hex.js') as {
      toHex(s: unknown): unknown;
      size(s: unknown): unknown;
      count(first: unknown): unknown;
      token(): unknown;
      tokenHexLength(): number;
    };
    assert.equal(hex.toHex('ab'), '6162', "the host's own clear value comes back in clear");
    assert.equal(hex.tokenHexLength(), 6);
    const sealed = hex.token() as { __cloisterSealed?: Uint8Array };
    assert.ok(sealed.__cloisterSealed instanceof Uint8Array, 'the secret leaves sealed');
    // The attack: launder the sealed secret through the utility. It comes back sealed again.
    const laundered = hex.toHex(sealed) as { __cloisterSealed?: Uint8Array };
    assert.ok(laundered.__cloisterSealed instanceof Uint8Array, 'a sealed argument makes the result sealed');
    assert.ok(!Buffer.from(laundered.__cloisterSealed).toString('latin1').includes('746f6b'));
    // A forged sealed value is refused by the AEAD, not taken for the host's data.
    assert.throws(() => hex.toHex({ __cloisterSealed: new Uint8Array(40) }));
    assert.equal(hex.toHex('c'), '63', 'the enclave keeps serving');
    // Arity: a JavaScript function gets no more arguments than it declares (extra ones are dropped,
    // as JavaScript ignores them), unless it reads `arguments`; past 64 the call is refused.
    const byName = (n: string) =>
      iface.entries.find((e) => e.name === n) as { variadic?: boolean } | undefined;
    assert.equal(byName('hex.count')?.variadic, true);
    assert.equal(byName('hex.toHex')?.variadic, undefined);
    assert.equal(
      (hex.toHex as (...a: unknown[]) => unknown)('ab', sealed),
      '6162',
      'an extra argument is dropped unread',
    );
    assert.equal((hex.count as (...a: unknown[]) => unknown)(1, 2, 3), 3);
    assert.throws(
      () => (hex.count as (...a: unknown[]) => unknown)(...new Array(65).fill(0)),
      /too many arguments/,
    );
    assert.throws(
      () => enclave!.callSync('enterSync', ['hex.count', { args: [{ __cloisterHandle: 12345 }] }]),
      /unknown handle/,
    );
    // A function the analysis found clear (it saw no secret reach the result): a sealed argument
    // still makes its result sealed, so a gap in the analysis does not let a secret out.
    assert.equal(iface.entries.find((e) => e.name === 'hex.size')?.returns.crossing, 'clear');
    assert.equal(hex.size('abcd'), 4);
    assert.ok((hex.size(sealed) as { __cloisterSealed?: Uint8Array }).__cloisterSealed instanceof Uint8Array);
  });

  it("keeps an ES5 class's sensitive fields inside: the host's instance has the others", () => {
    const vault = createRequire(join(out, 'host', 'package.json'))('./lib/vault.js') as {
      Box: new (label: string) => { label: string; inner?: string; matches(g: string): boolean };
      open(label: string): { label: string; inner?: string; matches(g: string): boolean };
    };
    for (const box of [new vault.Box('x'), vault.open('x')]) {
      assert.equal(box.label, 'x');
      assert.equal(box.inner, undefined, 'the secret field stays in the enclave');
      assert.doesNotMatch(JSON.stringify(box), /m4st3r/);
      assert.equal(box.matches('x'), true, "the method runs on the enclave's object");
      assert.equal(box.matches('y'), false);
    }
  });

  it('an object holding a secret with its own methods stays in the enclave: the host calls them through its handle', () => {
    const iface = JSON.parse(readFileSync(join(out, 'interface.json'), 'utf8')) as {
      entries: { name: string; returns: { crossing: string } }[];
    };
    assert.equal(iface.entries.find((e) => e.name === 'keys.create')?.returns.crossing, 'handle');
    type Key = { label?: string; secret?: string; sign(m: string): unknown; check(m: string): boolean };
    const keys = createRequire(join(out, 'host', 'package.json'))('./lib/keys.js') as {
      create(l: string): Key;
    };
    const key = keys.create('a');
    assert.doesNotMatch(JSON.stringify(key), /s33d/, 'no field of it reaches the host');
    assert.equal(typeof key.sign, 'function');
    const signature = key.sign('m') as { __cloisterSealed?: Uint8Array };
    assert.ok(signature.__cloisterSealed instanceof Uint8Array, 'what its own methods return leaves sealed');
    assert.equal(key.check('a:' + 'x'), false);
    // The host writes a field of its stand-in: the enclave's object is not changed by it.
    key.secret = 'forged';
    assert.equal(key.check('a:forged'), false, 'a field the host writes does not reach the enclave object');
  });

  it('an ES5 class assigned to a namespace path crosses by name: its instances keep their sensitive fields inside', () => {
    type Cipher = { tag: string; key?: string; update(s: string): void; finish(): string; kind(): string };
    const ns = createRequire(join(out, 'host', 'package.json'))('./lib/cipher.js') as {
      Cipher: new (tag: string) => Cipher;
      create(tag: string): Cipher;
      inner(): number;
    };
    for (const c of [ns.create('t'), new ns.Cipher('t')]) {
      assert.ok(c instanceof ns.Cipher, "the host's copy of the class");
      assert.equal(c.key, undefined, 'the key stays in the enclave');
      c.update('a');
      c.update('b');
      assert.equal(c.finish(), 'a4b4', "the methods run on the enclave's object");
      assert.equal(c.kind(), 'cipher', 'a host method runs on the host');
    }
    // The same host method on an object only the enclave has runs its body there.
    assert.equal(ns.inner(), 'cipher'.length + 'k3yi'.length);
    assert.match(
      readFileSync(join(out, 'enclave', 'lib', 'cipher.js'), 'utf8'),
      /Cipher\.prototype\.kind = function \(\) \{ if \(globalThis\.__cloister\.onHost\(this\)\)/,
      'the enclave copy keeps the host method for its own objects',
    );
  });
});
