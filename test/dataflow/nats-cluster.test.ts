// A 3-node JetStream cluster on loopback ports (nats-server with cluster routes), the job's stream,
// KV bucket and object store at 3 replicas; the server leading the task stream is killed once the
// first stage's tasks are committed, and the word count still equals coreutils with its manifest.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';

import { createConnection } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsExecutorPool } from '../../src/dataflow/host/nats/nats-pool.ts';
import { runJob } from '../../src/dataflow/host/run-job.ts';
import { openOutput } from '../../src/dataflow/owner.ts';
import {
  coreutilsWordCount,
  examples,
  freePort,
  NATS_SERVER,
  natsPresent,
  scratch,
  wordCounts,
  sealedWordCorpus,
} from './helpers.ts';

const s = scratch();
const servers = new Map<string, ChildProcess>();
let clientPorts: number[] = [];
let watcher: NatsConnection | undefined;
let pool: NatsExecutorPool | undefined;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const listening = (port: number): Promise<true | undefined> =>
  new Promise((resolve) => {
    const c = createConnection({ port, host: '127.0.0.1' }, () => (c.end(), resolve(true)));
    c.on('error', () => resolve(undefined));
  });

before(async () => {
  sealedWordCorpus(s, 1500);
  if (!natsPresent) return;
  clientPorts = [await freePort(), await freePort(), await freePort()];
  const routePorts = [await freePort(), await freePort(), await freePort()];
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  clientPorts.forEach((port, i) => {
    const name = `node${i}`;
    servers.set(
      name,
      spawn(
        NATS_SERVER,
        [
          '-js',
          '-a',
          '127.0.0.1',
          '-p',
          String(port),
          '-n',
          name,
          '--cluster_name',
          'cloister-test',
          '--cluster',
          `nats://127.0.0.1:${routePorts[i]}`,
          '--routes',
          routes,
          '-sd',
          s.path(`js-${name}`),
        ],
        { stdio: 'ignore' },
      ),
    );
  });
  for (const port of clientPorts) await waitFor(`nats-server on ${port}`, () => listening(port));
  watcher = await connect({ servers: clientPorts.map((p) => `127.0.0.1:${p}`), maxReconnectAttempts: -1 });
  // JetStream answers once the cluster has elected its meta leader.
  await waitFor('a JetStream meta leader', () => jetstreamManager(watcher!), 30_000);
});

after(async () => {
  // A job that did not end (a failed test) leaves executor processes: kill them, then the servers.
  for (let i = 0; i < (pool?.size ?? 0); i++) pool!.terminate(i);
  await watcher?.close().catch(() => undefined);
  await Promise.all(
    [...servers.values()].map((p) =>
      p.exitCode !== null || p.signalCode !== null
        ? undefined
        : new Promise((r) => (p.once('exit', r), p.kill('SIGKILL'))),
    ),
  );
  s.cleanup();
});

describe(
  'nats:// on a 3-node JetStream cluster',
  { skip: !natsPresent && 'nats-server is not installed' },
  () => {
    it(
      'the server leading the task stream is killed mid-job: nothing is lost, the result is right',
      { timeout: 150_000 },
      async () => {
        const jsm = await jetstreamManager(watcher!);
        let firstStage: string | undefined;
        let killing: Promise<string> | undefined;
        const killLeader = async (): Promise<string> => {
          const streams = await jsm.streams.list().next();
          const tasks = streams.find((i) => i.config.name.startsWith('CLOISTER_TASKS_'));
          assert.ok(tasks, 'the job has a task stream');
          assert.equal(tasks.config.num_replicas, 3);
          const leader = (await jsm.streams.info(tasks.config.name)).cluster?.leader;
          assert.ok(leader && servers.has(leader), `a leader among the servers (${leader})`);
          servers.get(leader)!.kill('SIGKILL');
          return leader;
        };
        const url = `nats://${clientPorts.map((p) => `127.0.0.1:${p}`).join(',')}`;
        const run = await runJob({
          jobFile: `${examples}wordcount.ts`,
          master: url,
          executors: 2,
          replicas: 3,
          jobKey: s.key,
          platformPath: s.platform,
          args: [s.path('in'), s.path('out')],
          ackWaitMs: 2000,
          onPool: (p) => {
            assert.ok(p instanceof NatsExecutorPool);
            pool = p;
            p.onTaskStart = (key) => {
              const stage = key.split('.')[1];
              firstStage ??= stage;
              // The first task of the next stage: every task of the first is committed and acked.
              if (stage !== firstStage && killing === undefined) killing = killLeader();
            };
          },
        });
        assert.ok(killing, 'a server was killed during the job');
        const killed = await killing;
        assert.notEqual(servers.get(killed)!.exitCode ?? servers.get(killed)!.signalCode, null);
        const opened = openOutput(s.path('out'), s.key, { verifyManifest: true, inputs: s.path('in') });
        assert.deepEqual(wordCounts(opened.lines), coreutilsWordCount(s.path('all', 'all.txt')));
        assert.ok(run.stats.tasks >= 5, `map and reduce tasks ran (${run.stats.tasks})`);
      },
    );
  },
);
