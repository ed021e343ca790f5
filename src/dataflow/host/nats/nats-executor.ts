/**
 * An executor process on NATS JetStream (untrusted host side): fetches the job enclave (bundle and
 * measured configuration) from the job's object store, launches it, pulls tasks from the work queue one at a time, runs them, records the outcome in KV
 * with create (compare-and-set: the first commit wins, a redelivered duplicate is dropped with its
 * blocks) and only then acks. A killed executor never acks, so its task is redelivered elsewhere.
 * The enclave runs each task; this process moves only the task message, sealed blocks and the outcome.
 * Sealed input files come from the object store too: an executor needs only the NATS URL.
 * Usage: node nats-executor.mjs URL JOB INDEX; stdin: empty, or the job key (hex) in key-file
 * development mode.
 */
import { readFileSync } from 'node:fs';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { JsEnclaveError } from '../../../host/js-enclave.ts';
import type { TaskMessage, TaskOutcome } from '../../messages.ts';
import type { JobEnclave } from '../bundle.ts';
import { isFatal } from '../executor-pool.ts';
import { launchJobEnclave } from '../launch-job-enclave.ts';
import { inputReader } from './inputs.ts';
import { NatsBlockStore } from './nats-store.ts';
import { decode, encode, names, taskKey } from './wire.ts';
import { RETRY_ATTEMPTS, RETRY_DELAY_MS, retrying } from './retry.ts';

const [url, job, index] = process.argv.slice(2);
const devKey = readFileSync(0, 'utf8').trim();
const n = names(job);
const nc = await connect({ servers: url.split(','), maxReconnectAttempts: -1 });
/**
 * Records the outcome with KV create (first commit wins): true when this delivery's is the one
 * committed. A create whose answer was lost in a leader change may have landed: the stored value is
 * then byte for byte ours (every outcome carries its own random attempt), so it is not a duplicate.
 */
async function commit(key: string, value: Uint8Array): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      await kv.create(key, value);
      return true;
    } catch (error) {
      const existing = await kv.get(key).catch(() => null);
      if (existing?.operation === 'PUT') return Buffer.from(existing.value).equals(Buffer.from(value));
      if (attempt >= RETRY_ATTEMPTS) throw error;
      await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
    }
  }
}

const objects = await retrying(() => new Objm(nc).open(n.blocks));
const kv = await retrying(() => new Kvm(nc).open(n.kv));
const store = new NatsBlockStore(objects);
const enclaveBytes = await retrying(() => objects.getBlob(n.bundle));
if (!enclaveBytes) throw new Error(`job ${job} has no job enclave in ${n.blocks}`);
const enclave = await launchJobEnclave(decode<JobEnclave>(enclaveBytes), {
  store,
  readInput: inputReader(store),
  devJobKey: devKey ? Buffer.from(devKey, 'hex') : undefined,
});

const consumer = await retrying(() => jetstream(nc).consumers.get(n.stream, n.consumer));
const messages = await consumer.consume({ max_messages: 1 });
process.on('SIGTERM', () => void Promise.all([nc.close(), enclave.close()]).then(() => process.exit(0)));

for await (const m of messages) {
  const message = decode<TaskMessage>(m.data);
  const key = taskKey(message);
  process.stdout.write(`${JSON.stringify({ start: key, executor: Number(index) })}\n`);
  const heartbeat = setInterval(() => m.working(), 1000);
  try {
    const outcome = decode<TaskOutcome>((await enclave.call('executeTask', [m.data])) as Uint8Array);
    const value = encode({ outcome });
    if (!(await commit(key, value))) {
      // Another delivery committed first: ours is a duplicate.
      await store.remove([
        ...(outcome.shuffleOutputs ?? []).flat(),
        ...(outcome.output ? [outcome.output] : []),
      ]);
    }
    m.ack();
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    if (e instanceof JsEnclaveError && e.code !== 'threw') {
      // The enclave is gone: leave the task unacked (JetStream redelivers it) and let the pool see us go.
      process.stderr.write(`executor ${index}: its enclave was lost: ${e.message}\n`);
      process.exit(1);
    }
    const failure = {
      name: e instanceof JsEnclaveError && e.code === 'threw' ? (e.errorName ?? 'Error') : e.name,
      message: e.message,
    };
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
