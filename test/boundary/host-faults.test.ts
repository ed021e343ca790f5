// A host that lies in its replies, call by call: for every host call of src/interface/calls.ts a
// program that makes it runs with CLOISTER_HOST_FAULT=<call>:<fault> (a forbidden errno, an oversized
// reply, another request's reply). The enclave must fail closed: it stops with an error or the
// program gets one, and nothing it prints differs from what an honest host gives. Never a crash,
// never a hang (each run is bounded).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Calls } from '../../src/interface/calls.ts';
import { cliPath, runCli, tempDir, watFile } from '../helpers/cli.ts';

const FAULTS = ['errno', 'length', 'wrong-request'] as const;
const RUN_LIMIT_MS = 15_000;
/** Made by the attestation and key-release path: faulted in test/disk/kbs-end-to-end.test.ts. */
const KBS_CALLS = ['quote', 'net_fetch'];
/** Made only with `--net`: faulted in test/net/net-host-faults.test.ts. */
const NET_CALLS = ['net_send_batch', 'net_recv_batch'];

const dir = tempDir('cloister-host-faults-');

interface Scenario {
  name: string;
  /** A fresh working area and the CLI arguments and stdin that run the program in it. */
  prepare: (area: string) => { args: string[]; input: string };
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  hung: boolean;
}

/** Runs the CLI, killed after RUN_LIMIT_MS (a hang is a failure, reported as such). */
function runBounded(args: string[], input: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, RUN_LIMIT_MS);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, hung });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** Host calls and their counts from `--trace-host`'s table. */
function tracedCalls(stderr: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const m of stderr.matchAll(/^workload-(?:in)?dependent\s+(\S+)\s+(\d+)/gm))
    calls.set(m[1], Number(m[2]));
  return calls;
}

let image = '';
const volumeKey = (): string => join(dir, 'volume.key');

const scenarios: Scenario[] = [
  {
    // Renames, links, symlinks, unlinks, times through a handle, waiting for stdin: a program that
    // checks every result (SQLite's fsdir, for one, ignores a readlink error and prints a stale buffer).
    name: 'path operations',
    prepare: (area) => ({
      args: ['run', '--dir', `${area}::/data`, join(dir, 'path-ops.wasm')],
      input: 'x\n',
    }),
  },
  {
    // SQLite on a host directory: files, directories, a symlink, times, the clock, stdin and stdout.
    name: 'sqlite on a host directory',
    prepare: (area) => ({
      args: [
        'run',
        '--dir',
        `${area}::/data`,
        '--env',
        'HOME=/data',
        'examples/sqlite3.wasm',
        '/data/db.sqlite',
      ],
      input: [
        'pragma journal_mode = truncate;',
        'create table t(x);',
        "insert into t values ('row');",
        'select count(*) from t;',
        "select writefile('/data/f.txt', 'hello', 420, 1700000000);",
        "select writefile('/data/l', 'f.txt', 41471);",
        "select data from fsdir('/data/l');",
        "select readfile('/data/f.txt');",
        "select name from fsdir('/data') where name not like '%.lock' order by name;",
        "select julianday('now') > 2460000;",
        '',
      ].join('\n'),
    }),
  },
  {
    // A root image and an encrypted volume: the block device calls.
    name: 'sqlite on a volume',
    prepare: (area) => {
      const volume = join(area, 'data.vol');
      writeFileSync(volume, readFileSync(join(dir, 'empty.vol')));
      return {
        args: ['run', image, '--volume', `${volume}::/data`, '--volume-key-file', volumeKey(), '--'].concat([
          '/bin/sqlite3.wasm',
          '/data/db.sqlite',
        ]),
        input:
          "pragma journal_mode = truncate; create table t(x); insert into t values ('on the volume'); select x from t;\n",
      };
    },
  },
];

describe('a host that corrupts the replies to one call', () => {
  const honest = new Map<string, { stdout: string; calls: Map<string, number> }>();
  let areas = 0;
  const area = (): string => {
    const path = join(dir, `area-${areas++}`);
    mkdirSync(path);
    return path;
  };

  before(async () => {
    const wat = readFileSync(new URL('fixtures/path-ops.wat', import.meta.url), 'utf8');
    writeFileSync(join(dir, 'path-ops.wasm'), readFileSync(await watFile('path-ops', wat)));
    mkdirSync(join(dir, 'rootfs', 'bin'), { recursive: true });
    writeFileSync(join(dir, 'rootfs', 'bin', 'sqlite3.wasm'), readFileSync('examples/sqlite3.wasm'));
    image = join(dir, 'root.img');
    const built = await runCli(['image', 'build', '--from', join(dir, 'rootfs'), '-o', image]);
    assert.equal(built.code, 0, built.stderr);
    writeFileSync(volumeKey(), '11'.repeat(32));
    const made = await runCli([
      'volume',
      'create',
      join(dir, 'empty.vol'),
      '--size',
      '8M',
      '--key-file',
      volumeKey(),
    ]);
    assert.equal(made.code, 0, made.stderr);
    for (const s of scenarios) {
      const { args, input } = s.prepare(area());
      const [command, ...rest] = args;
      const r = await runBounded([command, '--trace-host', ...rest], input);
      assert.equal(r.code, 0, `${s.name} with an honest host: ${r.stderr}`);
      assert.notEqual(r.stdout, '', s.name);
      honest.set(s.name, { stdout: r.stdout, calls: tracedCalls(r.stderr) });
    }
  });

  it('every host call is made by one of the programs (or by the key-release test)', () => {
    const made = new Set([...honest.values()].flatMap((h) => [...h.calls.keys()]));
    const missing = Object.values(Calls)
      .map((c) => c.name)
      .filter((name) => !made.has(name) && !KBS_CALLS.includes(name) && !NET_CALLS.includes(name));
    assert.deepEqual(missing, [], 'calls no scenario makes');
  });

  for (const call of Object.values(Calls).filter(
    (c) => !KBS_CALLS.includes(c.name) && !NET_CALLS.includes(c.name),
  )) {
    it(`${call.name}: every fault fails closed`, async () => {
      const scenario = scenarios.find((s) => honest.get(s.name)?.calls.has(call.name));
      assert.ok(scenario, `no scenario makes ${call.name}`);
      const expected = honest.get(scenario.name)?.stdout ?? '';
      let changed = 0;
      // The three faults of a call run at once (each in its own area).
      const runs = await Promise.all(
        FAULTS.map((fault) => {
          const { args, input } = scenario.prepare(area());
          return runBounded(args, input, { CLOISTER_HOST_FAULT: `${call.name}:${fault}` });
        }),
      );
      for (const [i, fault] of FAULTS.entries()) {
        const r = runs[i];
        const what: string = `${call.name}:${fault} (${scenario.name}): exit ${r.code} ${r.signal ?? ''}\n${r.stderr}`;
        assert.equal(r.hung, false, `${what}: hung`);
        assert.equal(r.signal, null, what);
        assert.doesNotMatch(
          r.stderr,
          /\n\s+at |TypeError|ReferenceError|RangeError|Uncaught|FATAL/,
          `${what}: crashed`,
        );
        // The program may stop, or go on after the errors it was given: whatever it prints is
        // something it prints with an honest host (in the same order), or nothing.
        const lines = expected.split('\n');
        let at = 0;
        for (const line of r.stdout.split('\n')) {
          while (at < lines.length && lines[at] !== line) at++;
          assert.ok(
            at < lines.length,
            `${what}: printed ${JSON.stringify(line)}, which an honest host never gives`,
          );
        }
        if (r.code !== 0 || r.stdout !== expected) changed++;
      }
      assert.ok(changed > 0, `no fault of ${call.name} made any difference: was it injected?`);
    });
  }
});
