// Word count three ways, from one run: the dataflow engine with everything outside executors sealed,
// the same engine built as its plaintext baseline, and a plain single Node process doing the count.
//   node --import tsx bench/dataflow.ts            (dict-gcide, about 40 MB; BENCH_MB=8 for less)
// Executors are worker threads (local[N]), not enclaves yet: this measures the cost of sealing.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { frameFile } from '../src/dataflow/framing.ts';
import { runJob } from '../src/dataflow/host/run-job.ts';
import { openOutput, sealDirectory } from '../src/dataflow/owner.ts';
import { plainBlock } from '../src/dataflow/seal.ts';
import { lineBlocks } from '../src/dataflow/text-files.ts';
import { median, printTable } from './lib.ts';

const GCIDE = '/usr/share/dictd/gcide.dict.dz';
const megabytes = Number(process.env.BENCH_MB ?? 0);
const executors = Number(process.env.BENCH_EXECUTORS ?? 2);
const repeats = Number(process.env.BENCH_REPEATS ?? 3);
const partBytes = 4 * 1024 * 1024;
const blockBytes = 1024 * 1024;
const wordcount = fileURLToPath(new URL('../examples/wordcount.ts', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'cloister-bench-dataflow-'));
try {
  const head = megabytes > 0 ? ` | head -c ${megabytes * 1024 * 1024}` : '';
  const r = spawnSync('sh', ['-c', `zcat ${GCIDE}${head}`], { maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`cannot read ${GCIDE}: apt-get install dict-gcide`);
  const text = r.stdout.toString('utf8');
  mkdirSync(join(dir, 'corpus'));
  writeFileSync(join(dir, 'corpus', 'gcide.txt'), text);
  const key = randomBytes(32);
  sealDirectory(join(dir, 'corpus'), join(dir, 'sealed'), key, { partBytes, blockBytes });
  writePlainInputs(text, join(dir, 'plain'));

  const engine = async (plaintext: boolean, run: number): Promise<number> => {
    const out = join(dir, `out-${plaintext ? 'plain' : 'sealed'}-${run}`);
    const start = performance.now();
    await runJob({
      jobFile: wordcount,
      master: `local[${executors}]`,
      jobKey: key,
      args: [join(dir, plaintext ? 'plain' : 'sealed'), out],
      plaintext,
    });
    const ms = performance.now() - start;
    if (!plaintext && run === 0) {
      const words = openOutput(out, key, { verifyManifest: true }).lines.length;
      console.log(`sealed run: ${words} distinct words, manifest verified`);
    }
    rmSync(out, { recursive: true, force: true });
    return ms;
  };
  const plainNode = (): number => {
    const script =
      "const t=require('fs').readFileSync(process.argv[1],'utf8').toLowerCase();const m=new Map();" +
      'for(const w of t.split(/[^a-z]+/))if(w)m.set(w,(m.get(w)||0)+1);console.log(m.size)';
    const start = performance.now();
    const p = spawnSync(process.execPath, ['-e', script, join(dir, 'corpus', 'gcide.txt')], {
      encoding: 'utf8',
    });
    if (p.status !== 0) throw new Error(p.stderr);
    return performance.now() - start;
  };

  const sealed: number[] = [];
  const plain: number[] = [];
  const node: number[] = [];
  for (let i = 0; i < repeats; i++) {
    sealed.push(await engine(false, i));
    plain.push(await engine(true, i));
    node.push(plainNode());
  }
  const [s, p, n] = [median(sealed), median(plain), median(node)];
  printTable(
    `word count over ${(text.length / 1024 / 1024).toFixed(1)} MB of dict-gcide, local[${executors}], median of ${repeats} (wall ms, incl. bundling and executor start)`,
    ['configuration', 'ms', 'vs plaintext engine', 'vs plain node'],
    [
      ['engine, sealed (AES-256-GCM, manifest)', s, s / p, s / n],
      ['engine, plaintext baseline', p, 1, p / n],
      ['plain single node process', n, n / p, 1],
    ],
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** The inputs of the plaintext baseline: the sealed files' layout with plain blocks. */
function writePlainInputs(text: string, out: string): void {
  mkdirSync(out);
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const blocks = lineBlocks(lines, blockBytes);
  const perPart = partBytes / blockBytes;
  for (let p = 0; p * perPart < blocks.length; p++) {
    const part = blocks.slice(p * perPart, (p + 1) * perPart);
    const name = `gcide.txt.${String(p).padStart(5, '0')}`;
    const blobs = part.map((b, i) => plainBlock(i, i === part.length - 1, b));
    writeFileSync(join(out, `${name}.sealed`), frameFile('00'.repeat(16), blobs));
  }
}
