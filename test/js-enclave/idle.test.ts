// An enclave with work of its own (timers whose callbacks call the host, or settle a promise the
// host awaits): the host serves its host calls while the host itself is idle — makes no call and
// awaits none — and a process whose enclave has nothing pending still exits by itself.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { JsEnclave } from '../../src/host/js-enclave.ts';
import { TestEnclaves } from './helpers.ts';

const run = promisify(execFile);

/** Resolves when `count` host calls named tick came, or rejects after `ms` (the host only waits on its own timers). */
function ticks(
  count: number,
  ms: number,
): { seen: number[]; done: Promise<void>; tick: (d: Uint8Array) => Uint8Array } {
  const seen: number[] = [];
  let finish = (): void => {};
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`only ${seen.length} of ${count} host calls served in ${ms} ms`)),
      ms,
    );
    finish = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  const tick = (data: Uint8Array): Uint8Array => {
    seen.push(data[0]);
    // After this reply is published: a call made now would run nested inside this host call.
    if (seen.length === count) setImmediate(finish);
    return Uint8Array.of(data[0] * 10);
  };
  return { seen, done, tick };
}

describe('an enclave with timers of its own', () => {
  const enclaves = new TestEnclaves();
  let enclave: JsEnclave;
  let current: ReturnType<typeof ticks> | undefined;
  before(async () => {
    enclave = await enclaves.launch({
      appBundle: [
        `const { host } = require('cloister:enclave');`,
        `let replies = [];`,
        `const chain = (n, last) => { replies.push(host.call('tick', Uint8Array.of(n))[0]); if (n < last) setTimeout(() => chain(n + 1, last), 2); };`,
        `exports.later = (last) => { setTimeout(() => chain(1, last), 10); return 0; };`,
        `exports.afterReply = () => { Promise.resolve().then(() => setTimeout(() => chain(1, 1), 10)); return 0; };`,
        `let settle;`,
        `exports.promised = () => { setTimeout(() => { chain(1, 1); settle(replies.length); }, 10); return new Promise((r) => { settle = r; }); };`,
        `exports.replies = () => replies.splice(0);`,
      ].join('\n'),
      hostHandlers: { tick: (d) => current!.tick(d) },
    });
  });
  after(() => enclaves.close());

  it('serves the host calls of a chain of enclave timers while the host makes no call', async () => {
    current = ticks(3, 20_000);
    assert.equal(enclave.callSync('later', [3]), 0);
    await current.done; // the host waits on its own timer only
    assert.deepEqual(current.seen, [1, 2, 3]);
    assert.deepEqual(enclave.callSync('replies', []), [10, 20, 30], 'each host reply reached the enclave');
  });

  it('also when the timer is started by microtasks after the reply', async () => {
    current = ticks(1, 20_000);
    assert.equal(await enclave.call('afterReply', []), 0);
    await current.done;
    assert.deepEqual(enclave.callSync('replies', []), [10]);
  });

  it('settles a promise the host awaits once the timer has called out', async () => {
    current = ticks(1, 20_000);
    assert.equal(await enclave.call('promised', []), 1);
    assert.deepEqual(current.seen, [1]);
    assert.deepEqual(enclave.callSync('replies', []), [10]);
  });
});

describe('a process hosting an enclave', () => {
  const enclaves = new TestEnclaves();
  after(() => enclaves.close());

  for (const [mode, lines] of [
    ['during', ['tick 1', 'tick 2', 'tick 3', 'exit']],
    ['afterReply', ['tick 1', 'tick 2', 'tick 3', 'exit']],
    ['none', ['exit']],
  ] as const) {
    it(`exits by itself once the enclave has nothing pending (${mode}), after serving what it had`, async () => {
      const { stdout } = await run(
        process.execPath,
        ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'idle-exit.ts'), enclaves.platform, mode],
        { timeout: 60_000, killSignal: 'SIGKILL' },
      );
      assert.deepEqual(stdout.trim().split('\n'), lines);
    });
  }
});
