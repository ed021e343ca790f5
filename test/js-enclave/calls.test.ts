// Calls into a JavaScript enclave, and its calls to the host: synchronous and asynchronous, many
// types, and a hostile host — unknown entries, wrong argument counts, garbage, truncated and
// oversized requests, lying replies to the enclave's host calls — refused cleanly, the enclave
// still serving afterwards (or stopped for good, when the host breaks the ring protocol).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { JsEnclaveError, type JsEnclave } from '../../src/host/js-enclave.ts';
import { writeReply } from '../../src/host/ring-server.ts';
import { encodeValue } from '../../src/interface/js-enclave-codec.ts';
import { JsAppCalls } from '../../src/interface/calls.ts';
import { SlotField } from '../../src/interface/ring.ts';
import { TestEnclaves } from './helpers.ts';

const err = (code: string, match?: RegExp) => (e: unknown) =>
  e instanceof JsEnclaveError && e.code === code && (!match || match.test(e.message));

describe('JavaScript enclave calls', () => {
  const enclaves = new TestEnclaves();
  let enclave: JsEnclave;
  before(async () => {
    enclave = await enclaves.launch({
      config: { maxMessageBytes: 1 << 20 },
      hostHandlers: {
        block: (d) => new Uint8Array(100_000).fill(d[0]),
        echo: (d) => d,
        later: async (d) => Uint8Array.of(...d, 1),
        broken: () => {
          throw new Error('disk on fire');
        },
      },
    });
  });
  after(() => enclaves.close());

  it('lists exactly the exported functions as entries', () => {
    assert.ok(enclave.entries.includes('add') && enclave.entries.includes('sumBlocks'));
    assert.ok(!enclave.entries.includes('secret'), 'module variables are not entries');
  });

  it('round-trips many types through callSync and call', async () => {
    const value = {
      n: [0, -1.5, Number.NaN],
      big: -(2n ** 100n),
      s: 'ünïcødé',
      bytes: Uint8Array.of(0, 1, 255),
      nested: [[{ a: null, b: undefined, c: true }]],
    };
    assert.deepEqual(enclave.callSync('echo', [value]), value);
    assert.deepEqual(await enclave.call('echo', [value]), value);
    assert.equal(enclave.callSync('add', [2, 3]), 5);
    assert.equal(await enclave.call('slowDouble', [21n]), 42n);
    assert.equal(enclave.callSync('slowDouble', [4n]), 8n, 'an async entry answers a callSync too');
  });

  it('queues async calls and lets a callSync take its turn', async () => {
    const pending = [1n, 2n, 3n].map((n) => enclave.call('slowDouble', [n]));
    assert.equal(enclave.callSync('add', [1, 1]), 2);
    assert.deepEqual(await Promise.all(pending), [2n, 4n, 6n]);
  });

  it('refuses unknown entries, prototype names and wrong argument counts, and keeps serving', () => {
    for (const name of ['nope', 'constructor', '__proto__', 'toString', '']) {
      assert.throws(() => enclave.callSync(name, []), err('refused', /no entry named/));
    }
    assert.throws(() => enclave.callSync('add', [1]), err('refused', /takes 2 arguments, got 1/));
    assert.throws(() => enclave.callSync('add', [1, 2, 3]), err('refused', /got 3/));
    assert.equal(enclave.callSync('add', [1, 2]), 3);
  });

  it('returns an exception thrown inside as an error with its name and message only', async () => {
    assert.throws(
      () => enclave.callSync('fails', ['boom']),
      (e: unknown) => err('threw', /^boom$/)(e) && (e as JsEnclaveError).errorName === 'RangeError',
    );
    await assert.rejects(enclave.call('fails', ['again']), err('threw', /^again$/));
    assert.throws(
      () => enclave.callSync('leakFunction', []),
      err('threw', /cannot leave: cannot send a function/),
    );
  });

  it('refuses a result larger than the message limit inside, and keeps serving', () => {
    assert.equal((enclave.callSync('zeros', [1000]) as Uint8Array).length, 1000);
    assert.throws(
      () => enclave.callSync('zeros', [2 << 20]),
      err('threw', /cannot leave: value larger than the 1048576-byte message limit/),
    );
    assert.equal(enclave.callSync('add', [1, 2]), 3);
  });

  it('refuses oversized arguments on the host side without touching the enclave', () => {
    assert.throws(() => enclave.callSync('echo', [new Uint8Array(2 << 20)]), err('refused', /message limit/));
    assert.throws(() => enclave.callSync('echo', [() => 1]), err('refused', /function/));
  });

  it('refuses garbage, truncated and lying request bytes, and keeps serving', () => {
    const good = encodeValue(['add', [1, 2]], 1 << 20);
    const refusedRaw = (bytes: Uint8Array, claimed?: number, match = /malformed request|outside/) =>
      assert.throws(() => enclave.callRaw(bytes, claimed), err('refused', match));
    for (let n = 0; n < good.length; n++) refusedRaw(good.subarray(0, n));
    refusedRaw(Uint8Array.of(0xff, 1, 2, 3));
    refusedRaw(encodeValue({ name: 'add' }, 1024), undefined, /expected \[name, args\]/);
    refusedRaw(encodeValue(['add', 'notargs'], 1024), undefined, /expected \[name, args\]/);
    refusedRaw(Uint8Array.of(8, 0xff, 0xff, 0xff, 0x0f));
    refusedRaw(good, -1, /request length -1 outside/);
    refusedRaw(good, (1 << 20) + 1, /outside 0\.\.1048576/);
    let seed = 7;
    for (let round = 0; round < 300; round++) {
      const bytes = good.slice();
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      bytes[seed % bytes.length] ^= 1 << (seed % 8);
      try {
        enclave.callRaw(bytes);
      } catch (error) {
        assert.ok(err('refused')(error) || err('threw')(error), String(error));
      }
    }
    assert.equal(enclave.callSync('add', [20, 22]), 42, 'still serving');
  });

  it('serves the enclave host calls during callSync and call, in parts larger than a ring slot', async () => {
    assert.equal(enclave.callSync('sumBlocks', [3]), 100_000 * (0 + 1 + 2));
    assert.equal(await enclave.call('sumBlocks', [2]), 100_000);
    const big = Uint8Array.from({ length: 300_000 }, (_, i) => i & 0xff);
    assert.deepEqual(enclave.callSync('askHost', ['echo', big]), big);
    assert.deepEqual(await enclave.call('askHost', ['later', Uint8Array.of(5)]), Uint8Array.of(5, 1));
  });

  it('turns host-side failures into errors the app sees, and keeps serving', () => {
    assert.throws(
      () => enclave.callSync('askHost', ['missing', new Uint8Array(1)]),
      err('threw', /no host handler named missing/),
    );
    assert.throws(
      () => enclave.callSync('askHost', ['broken', new Uint8Array(1)]),
      err('threw', /failed on the host: disk on fire/),
    );
    assert.throws(
      () => enclave.callSync('askHost', ['later', new Uint8Array(1)]),
      err('threw', /callSync needs a synchronous host handler/),
    );
    assert.equal(enclave.callSync('add', [1, 1]), 2);
  });

  it('routes the app console through the ring, not the worker stdio', async () => {
    const probe = await enclaves.launch({
      appBundle: `exports.hello = (n) => { console.log('hello', n); console.error({ n: 1n }); globalThis.console.log('global', n); return n; };`,
    });
    assert.equal(probe.callSync('hello', [7]), 7);
    assert.ok(enclaves.console.includes('hello 7\n'));
    assert.ok(enclaves.console.includes('{"n":"1n"}\n'));
    assert.ok(enclaves.console.includes('global 7\n'), 'the global console is the enclave console too');
  });

  it('runs an app with an npm dependency bundled in', async () => {
    const app = await enclaves.launch({
      appEntry: new URL('fixtures/package-app.ts', import.meta.url).pathname,
    });
    const data = new TextEncoder().encode('abc');
    assert.equal(
      Buffer.from(app.callSync('digest', [data]) as Uint8Array).toString('hex'),
      createHash('sha384').update(data).digest('hex'),
    );
  });

  it('honours a measured entry list: only those entries, with their argument ranges', async () => {
    const declared = await enclaves.launch({ config: { entries: { add: [2, 2], echo: [0, 1] } } });
    assert.deepEqual(declared.entries.sort(), ['add', 'echo']);
    assert.throws(() => declared.callSync('fails', ['x']), err('refused', /no entry named "fails"/));
    assert.equal(declared.callSync('echo', []), undefined);
    await assert.rejects(
      enclaves.launch({ config: { entries: { missing: [0, 0] } } }),
      err('load', /does not export/),
    );
  });
});

describe('calls nested inside a host call', () => {
  const enclaves = new TestEnclaves();
  after(() => enclaves.close());

  it('serve synchronous entries through the same checks; refuse async, unknown and malformed ones and nesting past 8; the outer call completes', async () => {
    const inner: unknown[] = [];
    const deepest: string[] = [];
    const tries: [string, unknown[]][] = [
      ['twice', [21]],
      ['slow', [1]],
      ['nope', []],
      ['twice', [1, 2, 3]],
    ];
    const enclave: JsEnclave = await enclaves.launch({
      appBundle: [
        `const { host } = require('cloister:enclave');`,
        `let calls = 0;`,
        `exports.outer = () => { calls++; const r = host.call('back', new Uint8Array(1)); return [r.length, calls]; };`,
        `exports.twice = (n) => n * 2;`,
        `exports.slow = async (n) => n;`,
        `exports.count = () => calls;`,
      ].join('\n'),
      hostHandlers: {
        back: () => {
          if (inner.length > 0) {
            // Deeper levels: the host keeps nesting until the enclave refuses.
            try {
              enclave.callSync('outer', []);
            } catch (error) {
              deepest.push((error as Error).message);
            }
            return Uint8Array.of(7);
          }
          for (const [name, args] of tries) {
            try {
              inner.push(enclave.callSync(name, args));
            } catch (error) {
              inner.push(error instanceof JsEnclaveError ? `${error.code}: ${error.message}` : error);
            }
          }
          inner.push(enclave.callSync('outer', []));
          return Uint8Array.of(7, 7);
        },
      },
    });
    assert.deepEqual(enclave.callSync('outer', []), [2, 9], 'the outer call, then 8 nested ones');
    assert.equal(inner[0], 42);
    assert.match(String(inner[1]), /refused: .*entry slow is asynchronous and cannot run nested/);
    assert.match(String(inner[2]), /refused: .*no entry named "nope"/);
    assert.match(String(inner[3]), /refused: .*entry twice takes 1 arguments, got 3/);
    // The nested outer (calls = 2) nested further until the enclave refused the 9th level; every
    // level's reply reached its caller, and the channel came back intact.
    assert.deepEqual(inner[4], [1, 9]);
    assert.equal(deepest.length, 1);
    assert.match(deepest[0], /refused the call: calls nested more than 8 deep/);
    assert.equal(enclave.callSync('count', []), 9);
    assert.equal(await enclave.call('twice', [5]), 10);
  });
});

describe('an app failing outside a call', () => {
  const enclaves = new TestEnclaves();
  after(() => enclaves.close());

  it('stops the enclave: the call in flight and every later call get the reason', async () => {
    const enclave = await enclaves.launch({
      appBundle: [
        `exports.hang = () => new Promise(() => setTimeout(() => { throw new Error('timer fire'); }, 1));`,
        `exports.one = () => 1;`,
      ].join('\n'),
    });
    assert.equal(enclave.callSync('one', []), 1);
    await assert.rejects(
      enclave.call('hang', []),
      err('stopped', /failed outside a call: Error: timer fire/),
    );
    assert.throws(() => enclave.callSync('one', []), err('closed', /timer fire/));
  });

  it('running out of its memory limit ends the enclave: the call fails, and so does every later one', async () => {
    const enclave = await enclaves.launch({
      appBundle: `exports.hog = () => { const a = []; for (;;) a.push({ n: a.length, m: [a.length] }); };`,
      config: { memoryMiB: 16 },
    });
    await assert.rejects(enclave.call('hog', []), err('closed', /ran out of memory/));
    assert.throws(() => enclave.callSync('hog', []), err('closed', /ran out of memory/));
  });
});

describe('a host lying to the enclave', () => {
  const enclaves = new TestEnclaves();
  after(() => enclaves.close());

  it('announcing a longer reply than it sends: the host call fails, the enclave keeps serving', async () => {
    const enclave = await enclaves.launch({
      hostHandlers: { echo: (d) => d },
      ringReplyWriter: (slot, request, response) => {
        writeReply(slot, request, response);
        if (request.callId === JsAppCalls.appCall.id) slot.result[0] = 5000n;
      },
    });
    assert.throws(
      () => enclave.callSync('askHost', ['echo', Uint8Array.of(1, 2)]),
      err('threw', /does not match the announced length/),
    );
    assert.equal(enclave.callSync('add', [1, 1]), 2);
  });

  it('announcing a reply beyond the message limit: refused before any allocation', async () => {
    const enclave = await enclaves.launch({
      hostHandlers: { echo: (d) => d },
      ringReplyWriter: (slot, request, response) => {
        writeReply(slot, request, response);
        if (request.callId === JsAppCalls.appCall.id) slot.result[0] = 1n << 40n;
      },
    });
    assert.throws(
      () => enclave.callSync('askHost', ['echo', Uint8Array.of(1)]),
      err('threw', /announced a reply of 1099511627776 bytes/),
    );
  });

  it('answering in the wrong slot: the enclave stops for good and says why', async () => {
    const enclave = await enclaves.launch({
      hostHandlers: { echo: (d) => d },
      ringReplyWriter: (slot, request, response) => {
        writeReply(slot, request, response);
        if (request.callId === JsAppCalls.appCall.id) slot.header[SlotField.replySeq] = request.seq + 1;
      },
    });
    assert.throws(
      () => enclave.callSync('askHost', ['echo', Uint8Array.of(1)]),
      err('stopped', /host answered request/),
    );
    assert.throws(() => enclave.callSync('add', [1, 1]), err('closed', /host answered request/));
  });
});
