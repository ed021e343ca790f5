// Executors in JS enclaves with the job key from the key broker: the measured job gets the key and
// computes the coreutils answer; a job bundle with one closure changed measures otherwise and is
// refused the key; and the driver — its heap, its block store, what it wrote — never holds a
// plaintext word of the input, nor does the memory it shares with the enclaves (a random canary
// word, which this test process never holds either).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeHeapSnapshot } from 'node:v8';
import { after, before, describe, it } from 'node:test';
import { buildJobEnclave } from '../../src/dataflow/host/bundle.ts';
import { LocalExecutorPool } from '../../src/dataflow/host/local-pool.ts';
import { runJob } from '../../src/dataflow/host/run-job.ts';
import { openOutput } from '../../src/dataflow/owner.ts';
import { cliPath } from '../helpers/cli.ts';
import { coreutilsWordCount, examples, scratch, startSimBroker, wordCounts, writeCorpus } from './helpers.ts';

const s = scratch();
const RESOURCE = 'default/job-key/wordcount';
const sh = (script: string) =>
  spawnSync('sh', ['-c', script], { cwd: s.dir, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });

/** The 4 KiB pages of `memory` that are not all zero, in order (the call channels are 128 MiB). */
function nonZeroPages(memory: SharedArrayBuffer): Buffer {
  const bytes = new Uint8Array(memory);
  const pages: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 4096) {
    const page = bytes.subarray(at, at + 4096);
    if (page.some((b) => b !== 0)) pages.push(Buffer.from(page));
  }
  return Buffer.concat(pages);
}

describe('dataflow executors in JS enclaves, with the key from the key broker', () => {
  let url: string;
  let broker: Awaited<ReturnType<typeof startSimBroker>> | undefined;
  let mrenclave: string;
  before(async () => {
    // The operator trusts the sim root for this test only (as `kbs serve --trust-sim-root`).
    broker = await startSimBroker(s.platform);
    url = broker.url;
    // The data owner measures the job and releases the key to that measurement only.
    mrenclave = (await buildJobEnclave(`${examples}wordcount.ts`, { source: 'kbs', url, resource: RESOURCE }))
      .mrenclave;
    broker.put(RESOURCE, s.key, [mrenclave]);
    writeCorpus(s.path('corpus'), {
      'a.txt': 'The cat; the HAT.\nA quick brown fox\n',
      'b.txt': "cat's hat-trick, the end\n",
    });
    writeFileSync(s.path('job.key'), s.key.toString('hex'));
    const sealed = spawnSync(
      process.execPath,
      [cliPath, 'data', 'seal', 'corpus', '-o', 'in', '--key-file', 'job.key'],
      {
        cwd: s.dir,
        encoding: 'utf8',
      },
    );
    assert.equal(sealed.status, 0, sealed.stderr);
  });
  after(async () => {
    await broker?.close();
    s.cleanup();
  });

  it('the measured job gets the key after attestation and equals coreutils', async () => {
    const run = await runJob({
      jobFile: `${examples}wordcount.ts`,
      master: 'local[2]',
      kbs: { url, resource: RESOURCE },
      platformPath: s.platform,
      args: [s.path('in'), s.path('out')],
    });
    assert.equal(run.mrenclave, mrenclave);
    const opened = openOutput(s.path('out'), s.key, { verifyManifest: true, inputs: s.path('in') });
    sh('cat corpus/a.txt corpus/b.txt > all.txt');
    assert.deepEqual(wordCounts(opened.lines), coreutilsWordCount(s.path('all.txt')));
    assert.equal(opened.manifest?.bundle, mrenclave, 'the manifest names the measured job');
    assert.deepEqual(openOutput(s.path('out'), s.key, { mrenclave }).lines, opened.lines);
    assert.throws(
      () => openOutput(s.path('out'), s.key, { mrenclave: 'ab'.repeat(32) }),
      /integrity check failed: the output was made by job enclave [0-9a-f]{64}, not abab/,
    );
  });

  it('a job bundle with one closure changed measures otherwise and is refused the key', async () => {
    const original = readFileSync(`${examples}wordcount.ts`, 'utf8');
    const modified = original.replace('(word) => word.length > 0', '(word) => word.length > 1');
    assert.notEqual(modified, original, 'the closure to change is in the example');
    // Beside the original, so that only the closure differs (bundle paths are relative to the job).
    const file = `${examples}.wordcount-modified-${process.pid}.ts`;
    writeFileSync(file, modified);
    try {
      let measured: string | undefined;
      await assert.rejects(
        runJob({
          jobFile: file,
          master: 'local[1]',
          kbs: { url, resource: RESOURCE },
          platformPath: s.platform,
          args: [s.path('in'), s.path('out-modified')],
          onMeasured: (m) => (measured = m),
        }),
        /key broker refused/,
      );
      assert.ok(measured && measured !== mrenclave, 'one changed closure changes the measurement');
      assert.equal(existsSync(s.path('out-modified')), false, 'nothing was written');
    } finally {
      rmSync(file, { force: true });
    }
  });

  it("the driver's heap, block store and outputs hold no plaintext word of the input", async () => {
    // A random canary word, made and searched for by child processes: this process never holds it.
    assert.equal(sh(`mkdir -p canary && tr -dc a-z < /dev/urandom | head -c 24 > canary.txt`).status, 0);
    assert.equal(
      sh(
        `for i in 1 2 3 4 5 6 7 8; do echo "words around $(cat canary.txt) and more $i"; done > canary/c.txt`,
      ).status,
      0,
    );
    const sealed = spawnSync(
      process.execPath,
      [cliPath, 'data', 'seal', 'canary', '-o', 'canary.in', '--key-file', 'job.key'],
      { cwd: s.dir, encoding: 'utf8' },
    );
    assert.equal(sealed.status, 0, sealed.stderr);
    mkdirSync(s.path('store-seen'));
    let copies = 0;
    let pool: LocalExecutorPool | undefined;
    let sharedBytes = 0;
    await runJob({
      jobFile: `${examples}wordcount.ts`,
      master: 'local[2]',
      kbs: { url, resource: RESOURCE },
      platformPath: s.platform,
      args: [s.path('canary.in'), s.path('canary.out')],
      storeDir: s.path('store'),
      onPool: (p) => (pool = p as LocalExecutorPool),
      // Before each reduce task, copy what the store holds (shuffle blocks go when the action ends)
      // and the memory the driver shares with the executor enclaves (rings and call channels).
      rewriteTask: (message) => {
        if (!message.stage.shuffle && existsSync(s.path('store'))) {
          const copy = s.path('store-seen', String(copies++));
          cpSync(s.path('store'), copy, { recursive: true });
          for (const [i, memory] of pool!.hostVisibleMemory().entries()) {
            const pages = nonZeroPages(memory);
            sharedBytes += pages.length;
            writeFileSync(`${copy}/shared-${i}`, pages);
          }
        }
        return message;
      },
    });
    assert.ok(copies > 0 && sharedBytes > 0, 'the store and the shared memory were copied mid-job');
    writeHeapSnapshot(s.path('driver.heapsnapshot'));
    const found = sh('grep -rlF -f canary.txt store-seen canary.out canary.in driver.heapsnapshot');
    assert.equal(found.status, 1, `the canary word is in: ${found.stdout}`);
    // The controls: the search does find it where it is, and the job did count it.
    assert.equal(sh('grep -lF -f canary.txt canary/c.txt').status, 0);
    const opened = sh(
      `'${process.execPath}' '${cliPath}' data open canary.out --key-file job.key --verify-manifest | grep -F -f canary.txt`,
    );
    assert.match(opened.stdout, /^\["[a-z]{24}",8\]\n$/);
  });
});
