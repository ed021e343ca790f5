// The commands as a data owner and a job runner use them (the built CLI in dist/).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { SimPlatform } from '../../src/tee/sim/platform.ts';
import { cliPath, runCli } from '../helpers/cli.ts';
import { examples, scratch, writeCorpus } from './helpers.ts';

const s = scratch();
after(() => s.cleanup());
const env = { CLOISTER_SIM_PLATFORM: s.platform };

describe('cloister data / job', () => {
  it('seal, run word count on local[2], open with the manifest verified', async () => {
    writeCorpus(s.path('corpus'), { 'a.txt': 'The cat; the HAT.\n', 'b.txt': "cat's hat-trick\n" });
    const key = s.path('job.key');
    const seal = await runCli([
      'data',
      'seal',
      s.path('corpus'),
      '-o',
      s.path('in'),
      '--key-file',
      key,
      '--generate-key',
    ]);
    assert.equal(seal.code, 0, seal.stderr);
    assert.match(seal.stdout, /^dataset [0-9a-f]{32}: 2 sealed files/);
    const run = await runCli(
      [
        'job',
        'run',
        `${examples}wordcount.ts`,
        '--master',
        'local[2]',
        '--key-file',
        key,
        '--',
        s.path('in'),
        s.path('out'),
      ],
      { env },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /--key-file is for local development: the job key passes through this host/);
    assert.match(run.stderr, /sim backend: no hardware isolation/);
    assert.match(run.stderr, /job [0-9a-f]{32} done: 1 actions/);
    const mrenclave = /MRENCLAVE ([0-9a-f]{64})\n/.exec(run.stderr)?.[1];
    assert.ok(mrenclave, run.stderr);
    // The data owner measures the same job for the broker's policy; the local-development build here.
    const measured = await runCli(['job', 'measure', `${examples}wordcount.ts`, '--key-file-mode']);
    assert.equal(measured.code, 0, measured.stderr);
    assert.equal(measured.stdout, `${mrenclave}\n`);
    const kbsBuild = await runCli([
      'job',
      'measure',
      `${examples}wordcount.ts`,
      '--kbs',
      'http://127.0.0.1:8080',
      '--resource',
      'jobs/key/wc',
    ]);
    assert.equal(kbsBuild.code, 0, kbsBuild.stderr);
    assert.match(kbsBuild.stdout, /^[0-9a-f]{64}\n$/);
    assert.notEqual(kbsBuild.stdout, measured.stdout, 'the key source is part of the measurement');
    const open = await runCli([
      'data',
      'open',
      s.path('out'),
      '--key-file',
      key,
      '--verify-manifest',
      '--inputs',
      s.path('in'),
    ]);
    assert.equal(open.code, 0, open.stderr);
    assert.match(open.stderr, /manifest verified/);
    const counts = Object.fromEntries(
      open.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as [string, number]),
    );
    assert.deepEqual(counts, { the: 2, cat: 2, hat: 2, s: 1, trick: 1 });
  });

  it('with a real `kbs serve`: the measured job gets the key, a changed one is refused', async () => {
    await SimPlatform.open({ path: s.platform }); // --trust-sim-root reads the platform's root
    writeCorpus(s.path('kbs-corpus'), { 'a.txt': 'To be, or not to be\n' });
    const key = s.path('kbs-job.key');
    const seal = await runCli([
      'data',
      'seal',
      s.path('kbs-corpus'),
      '-o',
      s.path('kbs-in'),
      '--key-file',
      key,
      '--generate-key',
    ]);
    assert.equal(seal.code, 0, seal.stderr);
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address() as { port: number };
        probe.close(() => resolve(p));
      });
    });
    const url = `http://127.0.0.1:${port}`;
    const resource = 'default/job-key/wc';
    const measured = await runCli([
      'job',
      'measure',
      `${examples}wordcount.ts`,
      '--kbs',
      url,
      '--resource',
      resource,
    ]);
    assert.equal(measured.code, 0, measured.stderr);
    writeFileSync(s.path('wc-policy.json'), JSON.stringify({ mrenclave: [measured.stdout.trim()] }));
    writeFileSync(s.path('server-policy.json'), '{}');
    const db = s.path('kbs.sqlite');
    const put = await runCli([
      'kbs',
      'put',
      resource,
      '--file',
      key,
      '--policy',
      s.path('wc-policy.json'),
      '--db',
      db,
    ]);
    assert.equal(put.code, 0, put.stderr);
    const server = spawn(
      process.execPath,
      [
        cliPath,
        'kbs',
        'serve',
        '--db',
        db,
        '--policy',
        s.path('server-policy.json'),
        '--trust-sim-root',
        '--port',
        String(port),
      ],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        let log = '';
        server.stderr!.on('data', (d: Buffer) => {
          log += d.toString();
          if (log.includes('listening on')) resolve();
        });
        server.once('exit', () => reject(new Error(`kbs serve exited: ${log}`)));
      });
      const run = await runCli(
        [
          'job',
          'run',
          `${examples}wordcount.ts`,
          '--master',
          'local[2]',
          '--kbs',
          url,
          '--resource',
          resource,
          '--',
          s.path('kbs-in'),
          s.path('kbs-out'),
        ],
        { env },
      );
      assert.equal(run.code, 0, run.stderr);
      assert.doesNotMatch(run.stderr, /--key-file is for local development/);
      assert.match(run.stderr, new RegExp(`MRENCLAVE ${measured.stdout.trim()}`));
      const open = await runCli([
        'data',
        'open',
        s.path('kbs-out'),
        '--key-file',
        key,
        '--mrenclave',
        measured.stdout.trim(),
      ]);
      assert.equal(open.code, 0, open.stderr);
      assert.match(
        open.stderr,
        new RegExp(
          `manifest verified: job [0-9a-f]{32} \\(job enclave MRENCLAVE ${measured.stdout.trim()}\\)`,
        ),
      );
      const counts = Object.fromEntries(
        open.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as [string, number]),
      );
      assert.deepEqual(counts, { to: 2, be: 2, or: 1, not: 1 });
      // The same job with a closure changed: another MRENCLAVE, refused by the broker.
      const changed = s.path('wordcount-changed.ts');
      writeFileSync(
        changed,
        readFileSync(`${examples}wordcount.ts`, 'utf8').replace('word.length > 0', 'word.length > 2'),
      );
      const refused = await runCli(
        [
          'job',
          'run',
          changed,
          '--master',
          'local[1]',
          '--kbs',
          url,
          '--resource',
          resource,
          '--',
          s.path('kbs-in'),
          s.path('kbs-out-changed'),
        ],
        { env },
      );
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /key broker refused/);
    } finally {
      await new Promise((r) =>
        server.exitCode !== null ? r(undefined) : (server.once('exit', r), server.kill('SIGTERM')),
      );
    }
  });

  it('usage errors: bad master, bad executor count, bad key file', async () => {
    const bad = await runCli([
      'job',
      'run',
      `${examples}wordcount.ts`,
      '--master',
      'yarn',
      '--key-file',
      s.path('job.key'),
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--master is local\[N\] or nats:\/\/host:port/);
    const nats = await runCli([
      'job',
      'run',
      `${examples}wordcount.ts`,
      '--master',
      'nats://127.0.0.1:4222',
      '--executors',
      '0',
      '--key-file',
      s.path('job.key'),
    ]);
    assert.equal(nats.code, 2);
    assert.match(nats.stderr, /--executors: 1 to 64/);
    const nokeys = await runCli(['job', 'run', `${examples}wordcount.ts`, '--master', 'local[1]']);
    assert.equal(nokeys.code, 2);
    assert.match(nokeys.stderr, /give --kbs URL --resource PATH/);
    const half = await runCli(['job', 'measure', `${examples}wordcount.ts`, '--kbs', 'http://127.0.0.1:1']);
    assert.equal(half.code, 2);
    assert.match(half.stderr, /--kbs URL and --resource PATH go together/);
    const nokey = await runCli(['data', 'open', s.path('out'), '--key-file', s.path('missing.key')]);
    assert.equal(nokey.code, 2);
    assert.match(nokey.stderr, /no such file/);
  });
});
