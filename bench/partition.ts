/**
 * The OAuth token endpoint of @node-oauth/oauth2-server, unpartitioned and partitioned (the
 * enclave side in a JavaScript enclave, sim backend): throughput of password-grant token requests
 * against an in-memory model, and crossings (entries into the enclave and exits back) per request.
 * Each variant runs in its own process, interleaved A/B, `ROUNDS` times; prints a ratio table.
 *
 *   node --import tsx bench/partition.ts [requests per round, default 300] [rounds, default 3]
 *
 * Needs the npm registry (partition-target.sh installs the target's dependencies).
 */
import { execFile, execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..');
const requests = Number(process.argv[2] ?? 300);
const rounds = Number(process.argv[3] ?? 3);

/** The driver each variant runs: N token requests, then one JSON line with the time and crossings. */
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
const tokens = [];
const model = {
  getClient: async (id, secret) => (id === 'app' && secret === 's3cret' ? { id: 'app', grants: ['password'] } : null),
  getUser: async (name, password) => (name === 'ann' && password === 'pw' ? { id: 'ann' } : null),
  saveToken: async (token, client, user) => { tokens.push(token.accessToken); return { ...token, client, user }; },
};
const server = new OAuth2Server({ model, accessTokenLifetime: 3600 });
const request = () => new Request({
  method: 'POST', query: {},
  headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '1' },
  body: { grant_type: 'password', username: 'ann', password: 'pw', client_id: 'app', client_secret: 's3cret' },
});
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

interface Sample {
  ms: number;
  n: number;
  entries: number;
  exits: number;
}

async function main(): Promise<void> {
  const setup = execFileSync(join(repo, 'scripts', 'partition-target.sh'), ['oauth2-server', '--keep'], {
    cwd: repo,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 16 << 20,
  });
  const work = /^interface file\s+(\S+)\/partitioned\/interface\.json/m.exec(setup)?.[1];
  if (work === undefined) throw new Error(`no kept directory in:\n${setup}`);
  try {
    const variants = {
      unpartitioned: { cwd: join(work, 'app'), node: [] as string[] },
      partitioned: { cwd: join(work, 'partitioned', 'host'), node: ['--import', './cloister/start.mjs'] },
    };
    for (const v of Object.values(variants)) writeFileSync(join(v.cwd, 'token-bench.cjs'), DRIVER);
    const samples: Record<string, Sample[]> = { unpartitioned: [], partitioned: [] };
    for (let r = 0; r < rounds; r++) {
      for (const [name, v] of Object.entries(variants)) {
        const { stdout } = await run(process.execPath, [...v.node, 'token-bench.cjs', String(requests)], {
          cwd: v.cwd,
          timeout: 600_000,
        });
        samples[name].push(JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Sample);
      }
    }
    const best = (name: string): Sample => samples[name].reduce((a, b) => (b.ms < a.ms ? b : a));
    const base = best('unpartitioned');
    console.log(`OAuth token endpoint (password grant), ${requests} requests x ${rounds} rounds, best round`);
    console.log('variant          requests/s   time/request   vs unpartitioned   entries/op   exits/op');
    for (const name of Object.keys(variants)) {
      const s = best(name);
      const rate = (s.n / s.ms) * 1000;
      console.log(
        `${name.padEnd(16)} ${rate.toFixed(0).padStart(10)}   ${((s.ms / s.n) * 1000).toFixed(0).padStart(9)} µs   ${(s.ms / base.ms).toFixed(2).padStart(15)}x   ${(s.entries / s.n).toFixed(1).padStart(10)}   ${(s.exits / s.n).toFixed(1).padStart(8)}`,
      );
    }
    console.log('whole program in the enclave: not measured (see docs/partitioner.md)');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
