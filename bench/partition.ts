/**
 * The OAuth token endpoint of @node-oauth/oauth2-server three ways: unpartitioned; partitioned
 * (the enclave side in a JavaScript enclave, sim backend); and the whole library in the
 * JavaScript enclave (the in-memory model too), the host passing each request's headers and body
 * through one entry. Throughput of password-grant token requests, and crossings (entries into the
 * enclave and exits back) per request. Each variant runs in its own process, interleaved,
 * `ROUNDS` times; prints a ratio table (best round) and the goal.
 *
 *   node --import tsx bench/partition.ts [requests per round, default 300] [rounds, default 3]
 *
 * Needs the npm registry (partition-target.sh installs the target's dependencies).
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { launchJsEnclave } from '../src/host/js-enclave.ts';
import { bundleForJsEnclave } from '../src/partition/enclave-bundle.ts';
import { loadNote, printGoals, printTable } from './lib.ts';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..');

/** The in-memory model every variant uses. */
const MODEL = `{
  getClient: async (id, secret) => (id === 'app' && secret === 's3cret' ? { id: 'app', grants: ['password'] } : null),
  getUser: async (name, password) => (name === 'ann' && password === 'pw' ? { id: 'ann' } : null),
  saveToken: async (token, client, user) => ({ ...token, client, user }),
}`;
const REQUEST_VALUE = {
  headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '1' },
  body: {
    grant_type: 'password',
    username: 'ann',
    password: 'pw',
    client_id: 'app',
    client_secret: 's3cret',
  },
};
const REQUEST = JSON.stringify(REQUEST_VALUE);

/** The driver of the first two variants: N token requests, then one JSON line with the time and crossings. */
const DRIVER = `'use strict';
const { existsSync } = require('node:fs');
const OAuth2Server = require('./index.js');
const { Request, Response } = OAuth2Server;
let entries = 0;
let exits = 0;
if (existsSync('./cloister/host-runtime.cjs')) {
  const runtime = require('./cloister/host-runtime.cjs');
  const serveExit = runtime.serveExit;
  runtime.serveExit = (...a) => { exits++; return serveExit(...a); };
  const cloister = globalThis.__cloister;
  const enter = cloister.enter;
  cloister.enter = (...a) => { entries++; return enter(...a); };
  const enterConstructor = cloister.enterConstructor;
  cloister.enterConstructor = (...a) => { entries++; return enterConstructor(...a); };
}
const model = ${MODEL};
const server = new OAuth2Server({ model, accessTokenLifetime: 3600 });
const request = () => new Request({ method: 'POST', query: {}, ...${REQUEST} });
(async () => {
  const n = Number(process.argv[2]);
  for (let i = 0; i < 20; i++) await server.token(request(), new Response({}));
  entries = 0; exits = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const response = new Response({});
    await server.token(request(), response);
    if (response.status !== 200 || typeof response.body.access_token !== 'string') throw new Error('token request failed: ' + JSON.stringify(response.body));
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  console.log(JSON.stringify({ ms, n, entries, exits }));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
`;

/** The whole library in the enclave: one entry per request. */
const WHOLE_APP = `'use strict';
const OAuth2Server = require('./index.js');
const { Request, Response } = OAuth2Server;
const server = new OAuth2Server({ model: ${MODEL}, accessTokenLifetime: 3600 });
exports.token = async (request) => {
  const response = new Response({});
  await server.token(new Request({ method: 'POST', query: {}, ...request }), response);
  return { status: response.status, body: JSON.parse(JSON.stringify(response.body)) };
};
`;
const WHOLE_BUNDLE = 'whole-enclave-bundle.js';

/** The whole-in-enclave variant's process: `bench/partition.ts --whole DIR N`. */
async function wholeDriver(dir: string, n: number): Promise<void> {
  const enclave = await launchJsEnclave({ appBundle: readFileSync(join(dir, WHOLE_BUNDLE), 'utf8') });
  const token = async (): Promise<void> => {
    const response = (await enclave.call('token', [structuredClone(REQUEST_VALUE)])) as {
      status: number;
      body: { access_token?: unknown };
    };
    if (response.status !== 200 || typeof response.body.access_token !== 'string')
      throw new Error(`token request failed: ${JSON.stringify(response)}`);
  };
  for (let i = 0; i < 20; i++) await token();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await token();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  console.log(JSON.stringify({ ms, n, entries: n, exits: 0 }));
  await enclave.close();
}

interface Sample {
  ms: number;
  n: number;
  entries: number;
  exits: number;
}

async function main(requests: number, rounds: number): Promise<void> {
  const setup = execFileSync(join(repo, 'scripts', 'partition-target.sh'), ['oauth2-server', '--keep'], {
    cwd: repo,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 16 << 20,
  });
  const work = /^interface file\s+(\S+)\/partitioned\/interface\.json/m.exec(setup)?.[1];
  if (work === undefined) throw new Error(`no kept directory in:\n${setup}`);
  try {
    const app = join(work, 'app');
    writeFileSync(join(app, 'whole-enclave.cjs'), WHOLE_APP);
    const whole = await bundleForJsEnclave(join(app, 'whole-enclave.cjs'), app, join(app, 'whole-flat.cjs'));
    writeFileSync(join(app, WHOLE_BUNDLE), whole.bundle);
    const variants: Record<string, { cwd: string; args: string[] }> = {
      unpartitioned: { cwd: app, args: ['token-bench.cjs'] },
      partitioned: {
        cwd: join(work, 'partitioned', 'host'),
        args: ['--import', './cloister/start.mjs', 'token-bench.cjs'],
      },
      'whole program in the enclave': {
        cwd: repo,
        args: ['--import', 'tsx', join(repo, 'bench', 'partition.ts'), '--whole', app],
      },
    };
    for (const dir of [variants.unpartitioned.cwd, variants.partitioned.cwd])
      writeFileSync(join(dir, 'token-bench.cjs'), DRIVER);
    const samples: Record<string, Sample[]> = {};
    for (let r = 0; r < rounds; r++) {
      for (const [name, v] of Object.entries(variants)) {
        const { stdout } = await run(process.execPath, [...v.args, String(requests)], {
          cwd: v.cwd,
          timeout: 600_000,
        });
        (samples[name] ??= []).push(JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Sample);
      }
    }
    const best = (name: string): Sample => samples[name].reduce((a, b) => (b.ms < a.ms ? b : a));
    const base = best('unpartitioned');
    const ratio = (name: string): number => best(name).ms / best(name).n / (base.ms / base.n);
    printTable(
      `OAuth token endpoint (password grant), ${requests} requests x ${rounds} rounds, best round; ${loadNote()}`,
      ['variant', 'requests/s', 'µs/request', 'x unpartitioned', 'entries/op', 'exits/op'],
      Object.keys(variants).map((name) => {
        const s = best(name);
        return [
          name,
          (s.n / s.ms) * 1000,
          (s.ms / s.n) * 1000,
          `${ratio(name).toFixed(2)}x`,
          s.entries / s.n,
          s.exits / s.n,
        ];
      }),
    );
    console.log(
      `partitioned against the whole program in the enclave: ${(ratio('partitioned') / ratio('whole program in the enclave')).toFixed(2)}x`,
    );
    printGoals('issue 13', [
      { measure: 'partitioned token endpoint, x unpartitioned', value: ratio('partitioned'), atMost: 1.3 },
    ]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--whole') await wholeDriver(process.argv[3], Number(process.argv[4]));
else await main(Number(process.argv[2] ?? 300), Number(process.argv[3] ?? 3));
