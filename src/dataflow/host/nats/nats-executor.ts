/**
 * An executor process on NATS JetStream (untrusted host side): fetches the job bundle from the job's
 * object store, pulls tasks from the work queue one at a time, runs them, records the outcome in KV
 * with create (compare-and-set: the first commit wins, a redelivered duplicate is dropped with its
 * blocks) and only then acks. A killed executor never acks, so its task is redelivered elsewhere.
 * Usage: node nats-executor.mjs URL JOB INDEX, the job key (hex) on stdin.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import type { Job } from '../../context.ts';
import type { ExecutorHost } from '../../host-io.ts';
import type { TaskMessage, TaskOutcome } from '../../messages.ts';
import { isFatal } from '../executor-pool.ts';
import { NatsBlockStore } from './nats-store.ts';
import { decode, encode, names, taskKey } from './wire.ts';

interface Bundle {
  job: Job;
  runTask(job: Job, jobKey: Uint8Array, host: ExecutorHost, message: TaskMessage): Promise<TaskOutcome>;
}

const [url, job, index] = process.argv.slice(2);
const jobKey = Buffer.from(readFileSync(0, 'utf8').trim(), 'hex');
const n = names(job);
const nc = await connect({ servers: url.split(','), maxReconnectAttempts: -1 });
/** JetStream requests time out while a cluster re-elects leaders (a server died): try again for a while. */
async function retrying<T>(what: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await what();
    } catch (error) {
      if (attempt >= 30) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

const objects = await retrying(() => new Objm(nc).open(n.blocks));
const kv = await retrying(() => new Kvm(nc).open(n.kv));
const host: ExecutorHost = { store: new NatsBlockStore(objects), readFile: (path) => readFile(path) };

const dir = mkdtempSync(join(tmpdir(), 'cloister-executor-'));
const bundleBytes = await objects.getBlob(n.bundle);
if (!bundleBytes) throw new Error(`job ${job} has no bundle in ${n.blocks}`);
writeFileSync(join(dir, 'job.mjs'), bundleBytes);
const bundle = (await import(pathToFileURL(join(dir, 'job.mjs')).href)) as Bundle;
rmSync(dir, { recursive: true, force: true });

const consumer = await retrying(() => jetstream(nc).consumers.get(n.stream, n.consumer));
const messages = await consumer.consume({ max_messages: 1 });
process.on('SIGTERM', () => void nc.close().then(() => process.exit(0)));

for await (const m of messages) {
  const message = decode<TaskMessage>(m.data);
  const key = taskKey(message);
  process.stdout.write(`${JSON.stringify({ start: key, executor: Number(index) })}\n`);
  const heartbeat = setInterval(() => m.working(), 1000);
  try {
    const outcome = await bundle.runTask(bundle.job, jobKey, host, message);
    try {
      await kv.create(key, encode({ outcome }));
    } catch {
      // Another delivery committed first: ours is a duplicate.
      await host.store.remove([
        ...(outcome.shuffleOutputs ?? []).flat(),
        ...(outcome.output ? [outcome.output] : []),
      ]);
    }
    m.ack();
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    const failure = { name: e.name, message: e.message };
    process.stderr.write(
      `executor ${index}: ${key} (delivery ${m.info.deliveryCount}): ${e.name}: ${e.message}\n`,
    );
    if (isFatal(failure) || m.info.deliveryCount >= 4) {
      await kv.create(key, encode({ failure })).catch(() => undefined);
      m.term();
    } else m.nak();
  } finally {
    clearInterval(heartbeat);
  }
}
