// A hostile store over NATS: the blocks in the job's JetStream object store (shuffle blocks and the
// sealed inputs the driver put there) dropped, duplicated, swapped or replayed from another job, and
// a task result replayed from another job into the outcome channel. Each ends the job with an
// integrity error and no output, never a wrong result. Starts its own nats-server on a loopback port.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { BlockStore } from '../../src/dataflow/host-io.ts';
import { inputObjectName } from '../../src/dataflow/host/nats/inputs.ts';
import { NatsExecutorPool } from '../../src/dataflow/host/nats/nats-pool.ts';
import { runJob } from '../../src/dataflow/host/run-job.ts';
import { MANIFEST_FILE } from '../../src/dataflow/manifest.ts';
import type { ShuffleInput, TaskMessage, TaskOutcome } from '../../src/dataflow/messages.ts';
import { openOutput } from '../../src/dataflow/owner.ts';
import { freePort, NATS_SERVER, natsPresent, scratch, twoStageJob, waitForPort } from './helpers.ts';

const s = scratch();
let server: ChildProcess | undefined;
let url = '';
let job = '';

// The two-shuffle job of helpers.ts: word counts (map stage a0:s3), then words grouped by count.
before(async () => {
  job = twoStageJob(s);
  if (!natsPresent) return;
  const port = await freePort();
  server = spawn(NATS_SERVER, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', s.path('jetstream')], {
    stdio: 'ignore',
  });
  await waitForPort(port);
  url = `nats://127.0.0.1:${port}`;
});

after(async () => {
  if (server && server.exitCode === null)
    await new Promise((r) => (server!.once('exit', r), server!.kill('SIGTERM')));
  s.cleanup();
});

type Rewrite = (message: TaskMessage, store: BlockStore) => TaskMessage | Promise<TaskMessage>;
let runs = 0;

function run(rewriteTask?: Rewrite, onPool?: (pool: NatsExecutorPool) => void): Promise<string> {
  const out = s.path(`out${runs++}`);
  return runJob({
    jobFile: job,
    master: url,
    executors: 2,
    jobKey: s.key,
    platformPath: s.platform,
    args: [s.path('in'), out],
    blockBytes: 64,
    rewriteTask,
    onPool: onPool && ((pool) => onPool(pool as NatsExecutorPool)),
  }).then(() => out);
}

/** The store rewrites objects the first reducer of map stage a0:s3 reads (its names unchanged). */
function onFirstReducer(change: (inputs: ShuffleInput[], store: BlockStore) => Promise<void>): Rewrite {
  let done = false;
  return async (message, store) => {
    const parent = message.stage.parents[0];
    if (done || !parent?.endsWith(':s3') || message.partition !== 0) return message;
    done = true;
    await change(message.shuffleInputs[parent], store);
    return message;
  };
}

async function refused(running: Promise<string>, pattern: RegExp): Promise<void> {
  const before = readdirSync(s.dir).length;
  await assert.rejects(running, (e: Error) => {
    assert.equal(e.name, 'IntegrityError', e.message);
    assert.match(e.message, /^integrity check failed: /);
    assert.match(e.message, pattern);
    return true;
  });
  for (const o of readdirSync(s.dir).slice(before))
    assert.ok(!existsSync(s.path(o, MANIFEST_FILE)), 'no manifest for a refused job');
}

async function swap(store: BlockStore, a: string, b: string): Promise<void> {
  const [x, y] = [await store.get(a), await store.get(b)];
  await store.put(a, y);
  await store.put(b, x);
}

describe('a hostile JetStream object store', { skip: !natsPresent && 'nats-server is not installed' }, () => {
  // Blocks and outcomes of an honest run: the replays below come from this other job.
  const saved = new Map<string, Uint8Array>();
  const byName = new Map<string, Uint8Array>();
  const outcomes = new Map<string, TaskOutcome>();
  const position = (m: TaskMessage, i: ShuffleInput, b: number): string =>
    `${m.stage.id}/${m.partition}/${i.map}/${b}`;

  before(async () => {
    if (!natsPresent) return;
    const honest = await run(
      async (message, store) => {
        for (const inputs of Object.values(message.shuffleInputs))
          for (const input of inputs)
            for (const [b, name] of input.blocks.entries()) {
              const bytes = await store.get(name);
              saved.set(position(message, input, b), bytes);
              byName.set(name, bytes);
            }
        return message;
      },
      (pool) => {
        const real = pool.run.bind(pool);
        pool.run = async (message) => {
          const outcome = await real(message);
          outcomes.set(`${message.stage.id}/${message.partition}`, outcome);
          return outcome;
        };
      },
    );
    const opened = openOutput(honest, s.key, { verifyManifest: true, inputs: s.path('in') });
    assert.ok(opened.lines.length > 5 && opened.lines.every((l) => /^\[\d+,\[/.test(l)));
  });

  it('a dropped block (the last of a set, deleted from the store)', () =>
    refused(
      run(
        onFirstReducer(async (inputs, store) => {
          await store.remove([inputs[0].blocks.pop()!]);
        }),
      ),
      /truncated/,
    ));

  it('a block deleted from the store while the set still names it', () =>
    refused(
      run(
        onFirstReducer(async (inputs, store) => {
          await store.remove([inputs[0].blocks[1]]);
        }),
      ),
      /block .*\/b1 is missing from the store/,
    ));

  it('a duplicated block (block 1 overwritten with block 0)', () =>
    refused(
      run(
        onFirstReducer(async (inputs, store) => {
          await store.put(inputs[0].blocks[1], await store.get(inputs[0].blocks[0]));
        }),
      ),
      /block 1/,
    ));

  it('swapped blocks (the contents of two objects exchanged)', () =>
    refused(
      run(onFirstReducer((inputs, store) => swap(store, inputs[0].blocks[0], inputs[0].blocks[1]))),
      /block 0/,
    ));

  it('blocks replayed from another job, under the names of this one', () => {
    let replaced = 0;
    let done = false;
    return refused(
      run(async (message, store) => {
        const parent = message.stage.parents[0];
        if (done || !parent?.endsWith(':s3') || message.partition !== 0) return message;
        done = true;
        for (const input of message.shuffleInputs[parent])
          for (const [b, name] of input.blocks.entries()) {
            const old = saved.get(position(message, input, b));
            if (!old) continue;
            await store.put(name, old);
            replaced++;
          }
        assert.ok(replaced > 0, 'the honest run left blocks to replay');
        return message;
      }),
      /does not authenticate/,
    );
  });

  it('sealed inputs swapped in the object store', () => {
    let done = false;
    return refused(
      run(async (message, store) => {
        if (!done)
          await swap(
            store,
            inputObjectName(s.path('in', 'a.txt.sealed')),
            inputObjectName(s.path('in', 'b.txt.sealed')),
          );
        done = true;
        return message;
      }),
      /file=[ab]\.txt block 0: does not authenticate/,
    );
  });

  it("a task result replayed from another job's committed outcome, with its blocks", () =>
    refused(
      run(undefined, (pool) => {
        const real = pool.run.bind(pool);
        const store = pool.store();
        pool.run = async (message) => {
          const old = outcomes.get(`${message.stage.id}/${message.partition}`);
          if (!message.stage.id.endsWith(':s3') || message.partition !== 1 || !old) return real(message);
          await real(message);
          // The outcome channel (KV) answers with the other job's outcome; the store holds its blocks.
          for (const name of old.shuffleOutputs!.flat()) await store.put(name, byName.get(name)!);
          return old;
        };
      }),
      /does not authenticate|bad MAC|of job/,
    ));
});
