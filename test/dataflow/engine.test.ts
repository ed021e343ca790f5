// The engine gives the plaintext answers: word count against coreutils over dict-gcide text, every
// RDD operation against plain JS (with a memory bound small enough to spill), and an executor
// killed mid-task changes nothing but the retry count.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { LocalExecutorPool } from '../../src/dataflow/host/local-pool.ts';
import { runJob } from '../../src/dataflow/host/run-job.ts';
import { openOutput, sealDirectory } from '../../src/dataflow/owner.ts';
import {
  coreutilsWordCount,
  examples,
  gcideSlice,
  jobFile,
  scratch,
  wordCounts,
  writeCorpus,
} from './helpers.ts';

const s = scratch();
after(() => s.cleanup());

describe('word count over dict-gcide', () => {
  const text = gcideSlice(2 * 1024 * 1024);
  before(() => {
    if (!text) return;
    writeCorpus(s.path('corpus'), { 'gcide.txt': text });
    sealDirectory(s.path('corpus'), s.path('corpus.sealed'), s.key, {
      partBytes: 256 * 1024,
      blockBytes: 64 * 1024,
    });
  });

  it(
    'equals tr | sort | uniq -c, and the manifest verifies',
    { skip: !text && 'dict-gcide is not installed' },
    async () => {
      const run = await runJob({
        jobFile: `${examples}wordcount.ts`,
        master: 'local[2]',
        jobKey: s.key,
        platformPath: s.platform,
        args: [s.path('corpus.sealed'), s.path('wc.out')],
      });
      assert.ok(run.stats.tasks >= 8, 'several input partitions');
      const opened = openOutput(s.path('wc.out'), s.key, {
        verifyManifest: true,
        inputs: s.path('corpus.sealed'),
      });
      const oracle = coreutilsWordCount(s.path('corpus', 'gcide.txt'));
      assert.ok(oracle.size > 10000, `a real vocabulary (${oracle.size} words)`);
      assert.deepEqual(wordCounts(opened.lines), oracle);
    },
  );

  it(
    'an executor killed mid-task is replaced, the task retried, the result the same',
    { skip: !text && 'dict-gcide is not installed' },
    async () => {
      let killed = 0;
      const run = await runJob({
        jobFile: `${examples}wordcount.ts`,
        master: 'local[2]',
        jobKey: s.key,
        platformPath: s.platform,
        args: [s.path('corpus.sealed'), s.path('wc-killed.out')],
        onPool: (pool) => {
          assert.ok(pool instanceof LocalExecutorPool);
          pool.onTaskStart = (message, slot) => {
            if (killed < 2 && message.partition === 1) {
              killed++;
              void pool.terminate(slot);
            }
          };
        },
      });
      assert.equal(killed, 2, 'a map task and a reduce task lost their executor');
      assert.ok(run.stats.retries >= 2);
      const opened = openOutput(s.path('wc-killed.out'), s.key, { verifyManifest: true });
      assert.deepEqual(wordCounts(opened.lines), coreutilsWordCount(s.path('corpus', 'gcide.txt')));
    },
  );
});

describe('executor enclaves that cannot be restarted', () => {
  it('fail the job with ExecutorLost instead of leaving it waiting', { timeout: 120_000 }, async () => {
    writeCorpus(s.path('small'), { 'a.txt': 'one two two\n' });
    sealDirectory(s.path('small'), s.path('small.sealed'), s.key);
    const platform = s.path('lost-platform', 'sim-platform.json');
    await assert.rejects(
      runJob({
        jobFile: `${examples}wordcount.ts`,
        master: 'local[1]',
        jobKey: s.key,
        platformPath: platform,
        args: [s.path('small.sealed'), s.path('small.out')],
        onPool: (pool) => {
          assert.ok(pool instanceof LocalExecutorPool);
          pool.onTaskStart = (_message, slot) => {
            // The sim platform is gone for good: the replacement enclave cannot start.
            writeFileSync(platform, 'not a platform');
            void pool.terminate(slot);
          };
        },
      }),
      (e: Error) => e.name === 'ExecutorLost' && /no executor enclave is left/.test(e.message),
    );
  });
});

describe('the RDD API', () => {
  it('every transformation and action equals plain JS, spilling under a small memory bound', async () => {
    const job = jobFile(
      s,
      'api.ts',
      `export default async function job(sc: SparkContext): Promise<void> {
  const out: Record<string, unknown> = {};
  const nums = sc.parallelize(Array.from({ length: 3000 }, (_, i) => i), 3);
  out.count = await nums.count();
  out.sum = await nums.reduce((a, b) => a + b);
  out.take = await nums.filter((n) => n % 7 === 3).take(4);
  const pairs = nums.map((n) => [n % 10, n] as [number, number]);
  out.grouped = (await pairs.groupByKey(4).collect()).map(([k, vs]) => [k, vs.length, vs.reduce((a, b) => a + b, 0)]);
  out.sorted = await nums.map((n) => [String(n).split('').reverse().join(''), n] as [string, number]).sortByKey(false).take(5);
  out.distinct = await nums.map((n) => n % 13).distinct(2).collect();
  out.union = await nums.union(sc.parallelize(['a', 'b'] as unknown as number[], 1)).count();
  const names = sc.parallelize([[1, 'one'], [2, 'two'], [2, 'deux'], [4, 'four']] as [number, string][], 2);
  out.join = await pairs.filter(([, n]) => n < 25).join(names).collect();
  out.partitions = await nums.mapPartitions(async function* (items, p) {
    let c = 0;
    for await (const _ of items) c++;
    yield [p, c];
  }).collect();
  out.dependent = await nums.filter((n) => n < (out.count as number) / 100).count();
  out.tuples = await sc.parallelize([[['x', 1], 2], [['x', 1], 3], [['x', 2], 4]] as [[string, number], number][]).reduceByKey((a, b) => a + b).collect();
  // The job program runs in the job enclave: its values leave only sealed, as an output.
  await sc.parallelize([JSON.stringify(out)], 1).saveAsTextFile(sc.args[0]);
}
`,
    );
    const run = await runJob({
      jobFile: job,
      master: 'local[2]',
      jobKey: s.key,
      platformPath: s.platform,
      args: [s.path('api.out')],
      memoryBytes: 4096,
      blockBytes: 1024,
    });
    assert.ok(run.stats.spilledRuns > 0, 'reducers spilled sorted runs to sealed files');
    const saved = openOutput(s.path('api.out'), s.key, { verifyManifest: true }).lines;
    assert.equal(saved.length, 1);
    const out = JSON.parse(saved[0]) as Record<string, unknown>;
    const nums = Array.from({ length: 3000 }, (_, i) => i);
    assert.equal(out.count, 3000);
    assert.equal(out.sum, (2999 * 3000) / 2);
    assert.deepEqual(out.take, [3, 10, 17, 24]);
    const grouped = (out.grouped as number[][]).sort((a, b) => a[0] - b[0]);
    assert.deepEqual(
      grouped,
      Array.from({ length: 10 }, (_, k) => {
        const vs = nums.filter((n) => n % 10 === k);
        return [k, vs.length, vs.reduce((a, b) => a + b, 0)];
      }),
    );
    const reversed = nums.map((n) => [String(n).split('').reverse().join(''), n] as [string, number]);
    assert.deepEqual(out.sorted, reversed.sort((a, b) => (a[0] < b[0] ? 1 : -1)).slice(0, 5));
    assert.deepEqual(
      (out.distinct as number[]).sort((a, b) => a - b),
      Array.from({ length: 13 }, (_, i) => i),
    );
    assert.equal(out.union, 3002);
    const joined = (out.join as [number, [number, string]][])
      .map(([k, [n, name]]) => `${k}:${n}:${name}`)
      .sort();
    assert.deepEqual(
      joined,
      [
        '1:1:one',
        '1:11:one',
        '1:21:one',
        '2:12:deux',
        '2:12:two',
        '2:2:deux',
        '2:2:two',
        '2:22:deux',
        '2:22:two',
        '4:14:four',
        '4:24:four',
        '4:4:four',
      ].sort(),
    );
    assert.deepEqual(out.partitions, [
      [0, 1000],
      [1, 1000],
      [2, 1000],
    ]);
    assert.equal(out.dependent, 30, 'a closure using an earlier action value sees it in the executors too');
    assert.deepEqual((out.tuples as unknown[]).map((t) => JSON.stringify(t)).sort(), [
      '[["x",1],5]',
      '[["x",2],4]',
    ]);
  });

  it('refuses keys that have no canonical encoding, with a clear error', async () => {
    const job = jobFile(
      s,
      'badkey.ts',
      `export default async function job(sc: SparkContext): Promise<void> {
  await sc.parallelize([1, 2]).map((n) => [{ n }, n] as never).groupByKey().count();
}
`,
    );
    await assert.rejects(
      runJob({ jobFile: job, master: 'local[1]', jobKey: s.key, platformPath: s.platform }),
      /a key must be a string, finite number/,
    );
  });

  it('a job file that does not bundle is a clear error', async () => {
    writeFileSync(s.path('broken.ts'), 'export default async function job(sc) { sc.textFile( }\n');
    await assert.rejects(
      runJob({ jobFile: s.path('broken.ts'), master: 'local[1]', jobKey: s.key, platformPath: s.platform }),
      /cannot bundle .*broken\.ts:1/,
    );
  });
});
