// The progress page of a passphrase unlock: the enclave reports its Argon2 key derivation there, and
// nothing the host writes into the page changes what the enclave does.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { planLaunch } from '../../src/cli/launch-plan.ts';
import { launch } from '../../src/host/launcher.ts';
import { ExitKind } from '../../src/interface/exit.ts';
import {
  createProgressPage,
  PROGRESS_SCALE,
  progressWriter,
  readProgress,
} from '../../src/interface/progress-page.ts';
import { tempDir } from '../helpers/cli.ts';
import { buildSevenImage } from '../helpers/seven-image.ts';
import { requireTool } from '../storage/helpers/tools.ts';

const dir = tempDir('cloister-unlock-progress-');
const image = join(dir, 'app.img');
const passphrase = join(dir, 'right.pass');
const wrongPassphrase = join(dir, 'wrong.pass');

/** Keeps writing hostile values into `page` (a thread of the host) until told to stop. */
function hammer(page: SharedArrayBuffer): { stop: () => Promise<number> } {
  const stopFlag = new SharedArrayBuffer(4);
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     const slot = new Int32Array(workerData.page, 0, 1);
     const stop = new Int32Array(workerData.stopFlag);
     const hostile = [-1, -2147483648, 2147483647, 1000001, 0, 1000000, 12345];
     let n = 0;
     while (Atomics.load(stop, 0) === 0 && n < 2e9) {
       Atomics.store(slot, 0, hostile[n++ % hostile.length]);
       // A breath every thousand writes, so as not to take a whole core of the shared machine.
       if (n % 1000 === 0) Atomics.wait(stop, 0, 0, 1);
     }
     parentPort.postMessage(n);`,
    { eval: true, workerData: { page, stopFlag } },
  );
  const writes = new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    stop: async () => {
      Atomics.store(new Int32Array(stopFlag), 0, 1);
      const n = await writes;
      await worker.terminate();
      return n;
    },
  };
}

describe('unlock progress page', () => {
  before(async () => {
    writeFileSync(passphrase, 'correct horse\n');
    writeFileSync(wrongPassphrase, 'battery staple\n');
    // The default keyslot KDF: argon2id, the one that reports progress.
    await buildSevenImage(dir, image, passphrase);
  });

  it('the enclave reports its key derivation up to 100%, rising', async (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    const seen: number[] = [];
    const plan = await planLaunch(image, ['--', '/bin/seven.wasm'], { passphraseFile: passphrase });
    const page = createProgressPage();
    const result = await launch({
      ...plan,
      progressPage: page,
      unlockProgress: { update: (done, total) => seen.push(done / total), stop: () => seen.push(-1) },
    });
    assert.equal(result.kind, ExitKind.PROGRAM, result.message);
    assert.equal(result.status, 7);
    assert.equal(readProgress(page), 1);
    assert.ok(result.hostVisibleMemory.includes(page), 'the page is listed as host-visible memory');
    assert.equal(seen.at(-1), -1, 'the bar is stopped');
    const fractions = seen.slice(0, -1);
    assert.equal(fractions.at(-1), 1);
    assert.deepEqual(
      fractions,
      [...fractions].sort((a, b) => a - b),
    );
  });

  it('garbage the host keeps writing into the page changes nothing in the enclave', async (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    for (const [pass, expected] of [
      [passphrase, { kind: ExitKind.PROGRAM, status: 7 }],
      [wrongPassphrase, { kind: ExitKind.STARTUP_ERROR, status: 1 }],
    ] as const) {
      const page = createProgressPage();
      const hostile = hammer(page);
      const shown: number[] = [];
      let result;
      try {
        const plan = await planLaunch(image, ['--', '/bin/seven.wasm'], { passphraseFile: pass });
        result = await launch({
          ...plan,
          progressPage: page,
          unlockProgress: { update: (done, total) => shown.push(done / total), stop: () => {} },
        });
      } finally {
        assert.ok((await hostile.stop()) > 0);
      }
      assert.equal(result.kind, expected.kind, result.message);
      assert.equal(result.status, expected.status);
      if (expected.status === 1) assert.match(result.message, /root image: wrong key or passphrase/);
      // Whatever the slot held, the host's bar only ever saw fractions from 0 to 1.
      for (const f of shown) assert.ok(f >= 0 && f <= 1, `shown ${f}`);
    }
  });

  it('the enclave only writes the page: a reporter overwrites whatever was there', () => {
    const page = createProgressPage();
    const slot = new Int32Array(page);
    const report = progressWriter(page);
    for (const [garbage, fraction, stored] of [
      [-5, 0.25, PROGRESS_SCALE / 4],
      [2 ** 31 - 1, 2, PROGRESS_SCALE],
      [7, -1, 0],
    ]) {
      slot[0] = garbage;
      report(fraction);
      assert.equal(slot[0], stored);
    }
    for (const [garbage, read] of [
      [-1, 0],
      [-(2 ** 31), 0],
      [2 ** 31 - 1, 1],
      [PROGRESS_SCALE / 2, 0.5],
    ]) {
      slot[0] = garbage;
      assert.equal(readProgress(page), read);
    }
  });
});
