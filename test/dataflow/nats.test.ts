// nats:// masters: executor processes, each hosting one job enclave, over a real nats-server with
// JetStream (started here on a loopback port, stopped after). With the job key from a key broker
// (sim root trusted for the test) results equal coreutils; a killed executor's task is redelivered
// to another and the result stays right.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { NatsExecutorPool } from '../../src/dataflow/host/nats/nats-pool.ts';
import { buildJobEnclave } from '../../src/dataflow/host/bundle.ts';
import { runJob } from '../../src/dataflow/host/run-job.ts';
import { openOutput } from '../../src/dataflow/owner.ts';
import {
  coreutilsWordCount,
  examples,
  freePort,
  NATS_SERVER,
  natsPresent,
  scratch,
  startSimBroker,
  waitForPort,
  wordCounts,
  sealedWordCorpus,
} from './helpers.ts';

const s = scratch();
let server: ChildProcess | undefined;
let broker: Awaited<ReturnType<typeof startSimBroker>> | undefined;
let url = '';

before(async () => {
  sealedWordCorpus(s, 3000);
  if (!natsPresent) return;
  const port = await freePort();
  server = spawn(NATS_SERVER, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', s.path('jetstream')], {
    stdio: 'ignore',
  });
  await waitForPort(port);
  url = `nats://127.0.0.1:${port}`;
});

after(async () => {
  await broker?.close();
  if (server && server.exitCode === null)
    await new Promise((r) => (server!.once('exit', r), server!.kill('SIGTERM')));
  s.cleanup();
});

describe('nats:// master', { skip: !natsPresent && 'nats-server is not installed' }, () => {
  it('word count with 2 executor processes, the key from the broker, equals coreutils', async () => {
    broker = await startSimBroker(s.platform);
    const kbs = { url: broker.url, resource: 'default/job-key/nats-wc' };
    const job = await buildJobEnclave(`${examples}wordcount.ts`, { source: 'kbs', ...kbs });
    broker.put(kbs.resource, s.key, [job.mrenclave]);
    const run = await runJob({
      jobFile: `${examples}wordcount.ts`,
      master: url,
      executors: 2,
      kbs,
      platformPath: s.platform,
      args: [s.path('in'), s.path('out')],
    });
    assert.equal(run.stats.retries, 0);
    const opened = openOutput(s.path('out'), s.key, { verifyManifest: true, inputs: s.path('in') });
    assert.deepEqual(wordCounts(opened.lines), coreutilsWordCount(s.path('all', 'all.txt')));
  });

  it('executors need only the NATS URL: sealed inputs reach them through the object store', async () => {
    // The inputs are gone from every file system before the first task is sent (after the driver put
    // them into the object store): executors can read them only from there.
    const inputs = s.path('in-remote');
    cpSync(s.path('in'), inputs, { recursive: true });
    let removed = false;
    await runJob({
      jobFile: `${examples}wordcount.ts`,
      master: url,
      executors: 2,
      jobKey: s.key,
      platformPath: s.platform,
      args: [inputs, s.path('out-remote')],
      rewriteTask: (message) => {
        if (!removed) rmSync(inputs, { recursive: true });
        removed = true;
        return message;
      },
    });
    assert.ok(removed && !existsSync(inputs));
    const opened = openOutput(s.path('out-remote'), s.key, { verifyManifest: true, inputs: s.path('in') });
    assert.deepEqual(wordCounts(opened.lines), coreutilsWordCount(s.path('all', 'all.txt')));
  });

  it('an executor killed mid-task: JetStream redelivers the task to the other, the result is right', async () => {
    let killed = -1;
    await runJob({
      jobFile: `${examples}wordcount.ts`,
      master: url,
      executors: 2,
      jobKey: s.key,
      platformPath: s.platform,
      args: [s.path('in'), s.path('out-killed')],
      ackWaitMs: 1500,
      onPool: (pool) => {
        assert.ok(pool instanceof NatsExecutorPool);
        pool.onTaskStart = (key, executor) => {
          if (killed < 0 && key.endsWith('.1')) {
            killed = executor;
            pool.terminate(executor);
          }
        };
      },
    });
    assert.ok(killed >= 0, 'an executor was killed during a task');
    const opened = openOutput(s.path('out-killed'), s.key, { verifyManifest: true });
    assert.deepEqual(wordCounts(opened.lines), coreutilsWordCount(s.path('all', 'all.txt')));
  });
});
