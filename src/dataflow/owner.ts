/**
 * The data owner's side: seal a directory of text files into a dataset, and open a job's sealed
 * output, checking its manifest (completeness, part digests, and optionally that every file of the
 * input dataset was used).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inputDomain, outputDomain } from './domains.ts';
import { DataflowError, IntegrityError } from './errors.ts';
import { inputKey, jobKeys } from './keyring.ts';
import { checkManifest, MANIFEST_FILE, openManifest, type Manifest } from './manifest.ts';
import {
  blockLines,
  DATASET_FILE,
  lineBlocks,
  openDataset,
  openTextFile,
  partFileName,
  sealDataset,
  sealTextFile,
  type DatasetEntry,
} from './text-files.ts';

export interface SealOptions {
  /** Files larger than this are cut (at line ends) into several sealed files, one partition each. */
  readonly partBytes?: number;
  readonly blockBytes?: number;
}

export function sealDirectory(
  inDir: string,
  outDir: string,
  jobKey: Uint8Array,
  options: SealOptions = {},
): { dataset: string; entries: DatasetEntry[] } {
  const partBytes = options.partBytes ?? 16 * 1024 * 1024;
  const blockBytes = options.blockBytes ?? 1024 * 1024;
  const key = inputKey(jobKey);
  const dataset = randomBytes(16).toString('hex');
  const names = readdirSync(inDir)
    .filter((n) => statSync(join(inDir, n)).isFile())
    .sort();
  if (names.length === 0) throw new DataflowError(`${inDir}: no files to seal`);
  mkdirSync(outDir, { recursive: true });
  const entries: DatasetEntry[] = [];
  for (const name of names) {
    const lines = readFileSync(join(inDir, name), 'utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const blocks = lineBlocks(lines, blockBytes);
    const perPart = Math.max(1, Math.floor(partBytes / blockBytes));
    const parts = Math.max(1, Math.ceil(blocks.length / perPart));
    for (let p = 0; p < parts; p++) {
      const file = parts === 1 ? name : `${name}.${String(p).padStart(5, '0')}`;
      const sealed = sealTextFile(
        key,
        dataset,
        inputDomain(dataset, file),
        blocks.slice(p * perPart, (p + 1) * perPart),
      );
      writeFileSync(join(outDir, `${file}.sealed`), sealed.bytes);
      entries.push({ file, digest: sealed.digest, blocks: sealed.blocks });
    }
  }
  writeFileSync(join(outDir, DATASET_FILE), sealDataset(key, dataset, entries));
  return { dataset, entries };
}

export interface OpenedOutput {
  readonly job: string;
  readonly lines: string[];
  /** Present when the manifest was verified. */
  readonly manifest?: Manifest;
}

const partFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => /^part-\d{5}\.sealed$/.test(n))
    .sort();

/**
 * Opens a saved output. The sealed manifest beside it names the job and action (it opens only with
 * the right key); with `verifyManifest` its chain, completeness and part digests are checked too;
 * `inputs` adds that every file of that dataset was read, `mrenclave` that the job enclave (whose
 * MRENCLAVE the manifest's chain covers) was that one.
 */
export function openOutput(
  dir: string,
  jobKey: Uint8Array,
  options: { verifyManifest?: boolean; inputs?: string; mrenclave?: string } = {},
): OpenedOutput {
  const names = partFiles(dir);
  if (names.length === 0) throw new DataflowError(`${dir}: no part files`);
  const { keys, manifest } = openManifest(
    (job) => jobKeys(jobKey, job),
    readFileSync(join(dir, MANIFEST_FILE)),
  );
  const verify = options.verifyManifest || options.inputs !== undefined || options.mrenclave !== undefined;
  const saved = verify ? checkManifest(keys, manifest) : manifest.actions[manifest.saved];
  if (!saved) throw new IntegrityError(`the manifest has no action ${manifest.saved}`);
  const result = saved.plan.stages[saved.plan.stages.length - 1];
  const records = saved.records.filter((r) => r.stage === result.id);
  if (verify) {
    const expected = records.map((r) => partFileName(r.part));
    if (expected.length !== names.length || expected.some((n) => !names.includes(n)))
      throw new IntegrityError(
        `${dir}: part files ${names.join(',')} are not the ${expected.length} the manifest names`,
      );
    if (options.inputs !== undefined) checkInputsUsed(options.inputs, jobKey, manifest);
    if (options.mrenclave !== undefined && manifest.bundle !== options.mrenclave.toLowerCase())
      throw new IntegrityError(
        `the output was made by job enclave ${manifest.bundle}, not ${options.mrenclave}`,
      );
  }
  const lines: string[] = [];
  for (const name of names) {
    const part = Number(name.slice(5, 10));
    const opened = openTextFile(keys.get('output'), readFileSync(join(dir, name)), name, () =>
      outputDomain(keys.jobId, saved.plan.action, part),
    );
    if (verify) {
      const out = records.find((r) => r.part === part)?.outputs.find((o) => o.type === 'part');
      if (!out || out.type !== 'part' || out.digest !== opened.digest)
        throw new IntegrityError(`${name}: not the part file the manifest records`);
    }
    for (const block of opened.blocks) lines.push(...blockLines(block));
  }
  return { job: keys.jobId, lines, ...(verify ? { manifest } : {}) };
}

/** Every file of the input dataset was read, by the digest it was sealed with. */
function checkInputsUsed(inputs: string, jobKey: Uint8Array, manifest: Manifest): void {
  const { dataset, entries } = openDataset(inputKey(jobKey), readFileSync(join(inputs, DATASET_FILE)));
  const read = new Map<string, string>();
  for (const action of manifest.actions)
    for (const record of action.records)
      for (const input of record.inputs)
        if (input.type === 'file' && input.dataset === dataset) read.set(input.file, input.digest);
  for (const entry of entries)
    if (read.get(entry.file) !== entry.digest)
      throw new IntegrityError(`input ${entry.file} of dataset ${dataset} was not used by the job`);
  for (const file of read.keys())
    if (!entries.some((e) => e.file === file))
      throw new IntegrityError(`the job read ${file}, which is not in dataset ${dataset}`);
}
