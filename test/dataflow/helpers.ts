// Shared pieces of the dataflow tests: temp dirs, keys, sealed corpora and the plaintext oracles.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePolicy } from '../../src/attestation/policy.ts';
import { dcapEvidenceVerifier } from '../../src/attestation/evidence.ts';
import { KeyBroker } from '../../src/kbs/server.ts';
import { KbsStore } from '../../src/kbs/store.ts';
import { SimPlatform } from '../../src/tee/sim/platform.ts';
import { simCollateral } from '../../src/tee/sim/quoting.ts';
import { sealDirectory } from '../../src/dataflow/owner.ts';

/** Debian's nats-server; its absence fails the NATS tests in CI (`.ci/run` installs it) and skips them elsewhere. */
export const NATS_SERVER = '/usr/sbin/nats-server';
export const natsPresent = existsSync(NATS_SERVER);
if (!natsPresent && process.env.CI === 'true')
  throw new Error(`${NATS_SERVER} is missing: apt-get install nats-server`);

/** A TCP port on loopback that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

/** Waits (at most 5 s) until something listens on the loopback port. */
export async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const c = createConnection({ port, host: '127.0.0.1' }, () => (c.end(), resolve(true)));
      c.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server did not listen on ${port}`);
}

export const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
export const GCIDE = '/usr/share/dictd/gcide.dict.dz';

export interface Scratch {
  readonly dir: string;
  readonly key: Buffer;
  /** The sim platform file of the job enclaves these tests launch. */
  readonly platform: string;
  path(...parts: string[]): string;
  cleanup(): void;
}

export function scratch(): Scratch {
  const dir = mkdtempSync(join(tmpdir(), 'cloister-dataflow-'));
  return {
    dir,
    key: randomBytes(32),
    platform: join(dir, 'sim-platform.json'),
    path: (...parts) => join(dir, ...parts),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The first `bytes` of dict-gcide's text, or undefined when it is not installed (outside CI). */
export function gcideSlice(bytes: number): string | undefined {
  if (!existsSync(GCIDE)) {
    if (process.env.CI === 'true') throw new Error(`${GCIDE} is missing: apt-get install dict-gcide`);
    return undefined;
  }
  const r = spawnSync('sh', ['-c', `zcat ${GCIDE} | head -c ${bytes}`], { maxBuffer: bytes + 1024 * 1024 });
  if (r.status !== 0) throw new Error(`zcat ${GCIDE} failed`);
  // Cut at the last line end, so the slice is whole lines.
  const text = r.stdout.toString('utf8');
  return text.slice(0, text.lastIndexOf('\n') + 1);
}

/** Word counts by coreutils: lowercase, maximal runs of [a-z], sort, uniq -c. */
export function coreutilsWordCount(file: string): Map<string, number> {
  const r = spawnSync('sh', ['-c', `tr 'A-Z' 'a-z' < '${file}' | tr -cs 'a-z' '\\n' | sort | uniq -c`], {
    env: { ...process.env, LC_ALL: 'C' },
    maxBuffer: 256 * 1024 * 1024,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`coreutils pipeline failed: ${r.stderr}`);
  const counts = new Map<string, number>();
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*(\d+) ([a-z]+)$/.exec(line);
    if (m) counts.set(m[2], Number(m[1]));
  }
  return counts;
}

/** Lines `["word",n]` of a word-count output as a map. */
export function wordCounts(lines: string[]): Map<string, number> {
  return new Map(lines.map((l) => JSON.parse(l) as [string, number]));
}

export function writeCorpus(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

/** Writes a job file into the scratch dir (importing the dataflow API by its package name). */
export function jobFile(s: Scratch, name: string, body: string): string {
  const path = s.path(name);
  writeFileSync(path, `import type { SparkContext } from 'cloister/dataflow';\n${body}`);
  return path;
}

/**
 * A key broker on a loopback port that trusts the sim root of `platformPath` (as `kbs serve
 * --trust-sim-root`), for tests only; `put` stores a resource under a policy naming MRENCLAVEs.
 */
/**
 * A word corpus of `count` lines in three files under `s.path('corpus')`, sealed (blocks of 4096
 * bytes) to `s.path('in')`, and the same lines as one plain file under `s.path('all')` for the oracle.
 */
export function sealedWordCorpus(s: Scratch, count: number): void {
  const words = Array.from(
    { length: count },
    (_, i) => `Word${i % 211} other-${(i * 7) % 57}; ${i % 3 ? 'x' : 'Y'}`,
  );
  const third = count / 3;
  writeCorpus(s.path('corpus'), {
    'a.txt': words.slice(0, third).join('\n'),
    'b.txt': words.slice(third, 2 * third).join('\n'),
    'c.txt': words.slice(2 * third).join('\n'),
  });
  writeCorpus(s.path('all'), { 'all.txt': `${words.join('\n')}\n` });
  sealDirectory(s.path('corpus'), s.path('in'), s.key, { blockBytes: 4096 });
}

/**
 * The tamper tests' two-shuffle job over a sealed corpus in `s.path('in')` (blocks of 256 bytes): word
 * counts (RDD 3, map stage a0:s3), then the words grouped by their count (RDD 5, a0:s5). Returns the
 * job file.
 */
export function twoStageJob(s: Scratch): string {
  const words = (n: number): string =>
    Array.from({ length: 200 }, (_, i) => `w${(i * n) % 97} x${i % 13}`).join('\n');
  writeCorpus(s.path('corpus'), { 'a.txt': words(3), 'b.txt': words(5), 'c.txt': words(7) });
  sealDirectory(s.path('corpus'), s.path('in'), s.key, { blockBytes: 256 });
  return jobFile(
    s,
    'twostage.ts',
    `export default async function job(sc: SparkContext): Promise<void> {
  await sc.textFile(sc.args[0])
    .flatMap((l) => l.split(' '))
    .map((w) => [w, 1] as const)
    .reduceByKey((a, b) => a + b)
    .map(([w, n]) => [n, w] as [number, string])
    .groupByKey()
    .saveAsTextFile(sc.args[1]);
}
`,
  );
}

export async function startSimBroker(platformPath: string): Promise<{
  url: string;
  put(resource: string, secret: Uint8Array, mrenclaves: string[]): void;
  close(): Promise<void>;
}> {
  const platform = await SimPlatform.open({ path: platformPath });
  const store = await KbsStore.open({});
  const broker = new KeyBroker({
    store,
    verifier: dcapEvidenceVerifier({
      collateral: await simCollateral(platform),
      trustedRoot: platform.rootCertificateDer,
    }),
    policy: parsePolicy({}),
    log: () => {},
  });
  const listening = await broker.listen({ host: '127.0.0.1', port: 0 });
  return {
    url: listening.url,
    put: (resource, secret, mrenclaves) =>
      store.put(resource, secret, parsePolicy({ mrenclave: mrenclaves })),
    close: async () => {
      await listening.close();
      store.close();
    },
  };
}
