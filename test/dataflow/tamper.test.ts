// Attacks by the untrusted side — scheduler, storage, the files on disk — each ends the job with an
// integrity error and no output, never with a wrong result.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { checkAction } from '../../src/dataflow/completeness.ts';
import { runJob } from '../../src/dataflow/host/run-job.ts';
import type { BlockStore } from '../../src/dataflow/host-io.ts';
import { MANIFEST_FILE, openManifest } from '../../src/dataflow/manifest.ts';
import type { ShuffleInput, TaskMessage } from '../../src/dataflow/messages.ts';
import { jobKeys } from '../../src/dataflow/keyring.ts';
import { signRecord } from '../../src/dataflow/records.ts';
import { openOutput, sealDirectory } from '../../src/dataflow/owner.ts';
import { scratch, twoStageJob, writeCorpus } from './helpers.ts';

const s = scratch();
after(() => s.cleanup());

// The two-shuffle job of helpers.ts: word counts (RDD 3, map stage a0:s3), then words by count (a0:s5).
let job = '';
before(() => {
  job = twoStageJob(s);
});

type Rewrite = (message: TaskMessage, store: BlockStore) => TaskMessage | Promise<TaskMessage>;
let runs = 0;

function run(rewriteTask?: Rewrite, input = s.path('in')): Promise<string> {
  const out = s.path(`out${runs++}`);
  return runJob({
    jobFile: job,
    master: 'local[2]',
    jobKey: s.key,
    platformPath: s.platform,
    args: [input, out],
    blockBytes: 64,
    rewriteTask,
  }).then(() => out);
}

/** Rewrites the shuffle inputs of the first reducer task of the `stage`-th map stage read (0 or 1). */
function onReducer(
  stage: number,
  change: (
    inputs: ShuffleInput[],
    message: TaskMessage,
    store: BlockStore,
  ) => ShuffleInput[] | Promise<ShuffleInput[]>,
): Rewrite {
  let done = false;
  return async (message, store) => {
    const parent = message.stage.parents[0];
    if (done || !parent || !parent.endsWith(stage === 0 ? ':s3' : ':s5') || message.partition !== 0)
      return message;
    done = true;
    const copy = structuredClone(message.shuffleInputs[parent]);
    return {
      ...message,
      shuffleInputs: { ...message.shuffleInputs, [parent]: await change(copy, message, store) },
    };
  };
}

async function refused(rewrite: Rewrite, pattern: RegExp): Promise<void> {
  const before = readdirSync(s.dir).length;
  await assert.rejects(run(rewrite), (e: Error) => {
    assert.equal(e.name, 'IntegrityError', e.message);
    assert.match(e.message, /^integrity check failed: /);
    assert.match(e.message, pattern);
    return true;
  });
  const outs = readdirSync(s.dir).slice(before);
  for (const o of outs) assert.ok(!existsSync(s.path(o, MANIFEST_FILE)), 'no manifest for a refused job');
}

describe('a tampering scheduler or store', () => {
  let honest = '';
  before(async () => {
    honest = await run();
  });

  it('an honest run verifies (so the refusals below are the attacks)', () => {
    const opened = openOutput(honest, s.key, { verifyManifest: true, inputs: s.path('in') });
    assert.ok(opened.lines.length > 5);
    assert.ok(opened.lines.every((l) => /^\[\d+,\[/.test(l)));
  });

  it('a dropped last block: the set is cut short', () =>
    refused(
      onReducer(0, (inputs) => (inputs[0].blocks.pop(), inputs)),
      /truncated/,
    ));

  it('a dropped middle block', () =>
    refused(
      onReducer(0, (inputs) => (inputs[0].blocks.splice(1, 1), inputs)),
      /block 1/,
    ));

  it('a duplicated block', () =>
    refused(
      onReducer(0, (inputs) => (inputs[0].blocks.splice(1, 0, inputs[0].blocks[0]), inputs)),
      /block 1/,
    ));

  it('swapped blocks within a set', () =>
    refused(
      onReducer(0, (inputs) => {
        const b = inputs[0].blocks;
        [b[0], b[1]] = [b[1], b[0]];
        return inputs;
      }),
      /block 0/,
    ));

  it("swapped mappers' sets", () =>
    refused(
      onReducer(0, (inputs) => {
        [inputs[0].blocks, inputs[1].blocks] = [inputs[1].blocks, inputs[0].blocks];
        return inputs;
      }),
      /does not authenticate/,
    ));

  it("one mapper's set given twice, another left out", () =>
    refused(
      onReducer(0, (inputs) => [inputs[0], inputs[0], inputs[2]]),
      /expected one from each of 3 mappers/,
    ));

  it("a mapper's output dropped", () =>
    refused(
      onReducer(0, (inputs) => inputs.slice(1)),
      /got 2 map outputs/,
    ));

  it('an attempt id changed (mixing attempts)', () =>
    refused(
      onReducer(0, (inputs) => ((inputs[0].attempt = 'ffffffffffffffff'), inputs)),
      /does not authenticate/,
    ));

  it('a task pointed at another RDD under its stage id (skipping the map before the shuffle)', () =>
    refused(
      (message) =>
        message.stage.id === 'a0:s3' ? { ...message, stage: { ...message.stage, rdd: 1 } } : message,
      /names RDD 1, the lineage says RDD 2/,
    ));

  it("a text partition pointed at another partition's file", () =>
    refused(
      (message) =>
        message.stage.id === 'a0:s3' && message.partition === 1
          ? {
              ...message,
              files: { ...message.files, 0: [message.files[0][0], message.files[0][0], message.files[0][2]] },
            }
          : message,
      /read a\.txt, not the file the plan names/,
    ));

  it('blocks replayed from another stage of the same job', async () => {
    const first: ShuffleInput[][] = [];
    let done = false;
    await refused(async (message) => {
      const parent = message.stage.parents[0];
      if (parent?.endsWith(':s3') && message.partition === 0) first.push(message.shuffleInputs[parent]);
      if (!done && parent?.endsWith(':s5') && message.partition === 0 && first.length > 0) {
        done = true;
        return { ...message, shuffleInputs: { [parent]: structuredClone(first[0]) } };
      }
      return message;
    }, /does not authenticate/);
  });

  it('blocks replayed from another run of the same job', async () => {
    const saved = new Map<string, Uint8Array>();
    const position = (m: TaskMessage, i: ShuffleInput, b: number): string =>
      `${m.stage.id}/${m.partition}/${i.map}/${b}`;
    await run(async (message, store) => {
      for (const inputs of Object.values(message.shuffleInputs))
        for (const input of inputs)
          for (const [b, name] of input.blocks.entries())
            saved.set(position(message, input, b), await store.get(name));
      return message;
    });
    await refused(
      onReducer(0, async (inputs, message, store) => {
        for (const input of inputs)
          for (const [b, name] of input.blocks.entries()) {
            const old = saved.get(position(message, input, b));
            if (old) await store.put(name, old);
          }
        return inputs;
      }),
      /does not authenticate/,
    );
  });
});

describe('tampered files of the data owner', () => {
  const copyIn = (name: string, change: (bytes: Buffer) => Buffer): string => {
    const dir = s.path(`in-${name}`);
    sealDirectory(s.path('corpus'), dir, s.key, { blockBytes: 256 });
    const file = `${dir}/b.txt.sealed`;
    writeFileSync(file, change(readFileSync(file)));
    return dir;
  };

  it('a flipped bit in a sealed input', async () => {
    const dir = copyIn('flip', (b) => ((b[b.length - 20] ^= 0x40), b));
    await assert.rejects(run(undefined, dir), /integrity check failed: .*b\.txt.*does not authenticate/);
  });

  it('a truncated sealed input (whole blocks or mid-block)', async () => {
    await assert.rejects(
      run(
        undefined,
        copyIn('cut', (b) => b.subarray(0, b.length - 10)),
      ),
      /integrity check failed: .*truncated/,
    );
    const blocks = copyIn('cutblock', (b) => b);
    const file = `${blocks}/b.txt.sealed`;
    const bytes = readFileSync(file);
    const first = 20 + 4 + bytes.readUInt32BE(20);
    writeFileSync(file, bytes.subarray(0, first));
    await assert.rejects(run(undefined, blocks), /integrity check failed: .*truncated/);
  });

  it('inputs renamed into each other', async () => {
    const dir = copyIn('renamed', (b) => b);
    renameSync(`${dir}/a.txt.sealed`, `${dir}/tmp`);
    renameSync(`${dir}/b.txt.sealed`, `${dir}/a.txt.sealed`);
    renameSync(`${dir}/tmp`, `${dir}/b.txt.sealed`);
    await assert.rejects(
      run(undefined, dir),
      /integrity check failed: .*file=[ab]\.txt block 0: does not authenticate/,
    );
  });

  it('an input from another dataset: the job runs, the data owner sees it was not hers', async () => {
    const dir = copyIn('foreign', (b) => b);
    const other = s.path('other');
    writeCorpus(s.path('corpus2'), { 'b.txt': 'something else entirely\n' });
    sealDirectory(s.path('corpus2'), other, s.key);
    writeFileSync(`${dir}/b.txt.sealed`, readFileSync(`${other}/b.txt.sealed`));
    const out = await run(undefined, dir);
    assert.throws(() => openOutput(out, s.key, { inputs: dir }), /input b\.txt of dataset .* was not used/);
  });

  it('outputs: a flipped, missing or foreign part file, or a changed manifest', async () => {
    const out = await run();
    const other = await run();
    const parts = readdirSync(out).filter((n) => n.startsWith('part-'));
    assert.ok(parts.length >= 2);
    const part = `${out}/${parts[0]}`;
    const good = readFileSync(part);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1] ^= 1;
    writeFileSync(part, flipped);
    assert.throws(() => openOutput(out, s.key), /does not authenticate/);
    writeFileSync(part, readFileSync(`${other}/${parts[0]}`));
    assert.throws(() => openOutput(out, s.key, { verifyManifest: true }), /integrity check failed/);
    rmSync(part);
    assert.throws(
      () => openOutput(out, s.key, { verifyManifest: true }),
      /are not the \d+ the manifest names/,
    );
    writeFileSync(part, good);
    assert.ok(openOutput(out, s.key, { verifyManifest: true }).lines.length > 0);
    const manifest = readFileSync(`${out}/${MANIFEST_FILE}`);
    manifest[60] ^= 1;
    writeFileSync(`${out}/${MANIFEST_FILE}`, manifest);
    assert.throws(() => openOutput(out, s.key), /integrity check failed/);
  });
});

describe('completeness of the committed task records', () => {
  it('refuses a left-out, duplicated, forged or mismatched record', async () => {
    const out = await run();
    const { keys, manifest } = openManifest(
      (j) => jobKeys(s.key, j),
      readFileSync(`${out}/${MANIFEST_FILE}`),
    );
    const { plan, records } = manifest.actions[0];
    const key = keys.get('manifest');
    checkAction(key, keys.jobId, plan, records);
    assert.throws(() => checkAction(key, keys.jobId, plan, records.slice(1)), /no record of partition 0/);
    assert.throws(
      () => checkAction(key, keys.jobId, plan, [...records, records[3]]),
      /two records of partition/,
    );
    const forged = { ...records[0], part: 1 - records[0].part };
    assert.throws(() => checkAction(key, keys.jobId, plan, [forged, ...records.slice(1)]), /bad MAC/);
    // Even a correctly MAC'd record must agree with its mapper: a reducer that read another set.
    const reducer = records.findIndex((r) => r.inputs.some((i) => i.type === 'shuffle'));
    const { mac: _, ...body } = records[reducer];
    const inputs = body.inputs.map((i, n) =>
      n === 0 && i.type === 'shuffle' ? { ...i, digest: '00'.repeat(32) } : i,
    );
    const changed = signRecord(key, { ...body, inputs });
    assert.throws(
      () =>
        checkAction(
          key,
          keys.jobId,
          plan,
          records.map((r, i) => (i === reducer ? changed : r)),
        ),
      /that its committed mapper did not write/,
    );
    assert.throws(() => checkAction(key, 'bb'.repeat(16), plan, records), /of job/);
  });
});
