/**
 * Sealed text files: the data owner's inputs (bound to dataset id and file name) and a job's output
 * parts (bound to job, action and partition). Blocks hold whole lines.
 */
import { datasetDomain, inputDomain } from './domains.ts';
import { IntegrityError } from './errors.ts';
import { frameFile, parseFrames } from './framing.ts';
import { openSet, sealSet, SetDigest, type Domain } from './seal.ts';

/** Cuts text into block payloads of about `blockBytes`, at line ends. */
export function lineBlocks(lines: Iterable<string>, blockBytes: number): Buffer[] {
  const blocks: Buffer[] = [];
  let current: string[] = [];
  let size = 0;
  for (const line of lines) {
    current.push(line);
    size += line.length + 1;
    if (size >= blockBytes) {
      blocks.push(Buffer.from(`${current.join('\n')}\n`, 'utf8'));
      current = [];
      size = 0;
    }
  }
  if (current.length > 0) blocks.push(Buffer.from(`${current.join('\n')}\n`, 'utf8'));
  return blocks;
}

export function blockLines(block: Buffer): string[] {
  const lines = block.toString('utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

export function sealTextFile(
  key: Uint8Array,
  setId: string,
  domain: Domain,
  payloads: Buffer[],
): { bytes: Buffer; digest: string; blocks: number } {
  const blobs = sealSet(key, domain, payloads);
  const digest = new SetDigest();
  for (const b of blobs) digest.add(b);
  return { bytes: frameFile(setId, blobs), blocks: digest.blocks, digest: digest.hex() };
}

export interface OpenedFile {
  readonly setId: string;
  readonly blocks: Buffer[];
  readonly digest: string;
  readonly count: number;
}

export function openTextFile(
  key: Uint8Array,
  bytes: Uint8Array,
  what: string,
  domain: (setId: string) => Domain,
): OpenedFile {
  const { setId, blobs } = parseFrames(bytes, what);
  const digest = new SetDigest();
  const blocks = openSet(key, domain(setId), blobs, digest);
  return { setId, blocks, digest: digest.hex(), count: digest.blocks };
}

/** The name an input file is bound to: its file name without `.sealed`. */
export function inputName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (!base.endsWith('.sealed')) throw new IntegrityError(`${path}: a sealed input file ends in .sealed`);
  return base.slice(0, -'.sealed'.length);
}

export const openInput = (key: Uint8Array, path: string, bytes: Uint8Array): OpenedFile =>
  openTextFile(key, bytes, path, (dataset) => inputDomain(dataset, inputName(path)));

/** The data owner's list of a dataset's files and digests: `_DATASET.sealed` beside them. */
export interface DatasetEntry {
  file: string;
  digest: string;
  blocks: number;
}

export const DATASET_FILE = '_DATASET.sealed';

export function sealDataset(key: Uint8Array, dataset: string, entries: DatasetEntry[]): Buffer {
  return sealTextFile(key, dataset, datasetDomain(dataset), [Buffer.from(JSON.stringify(entries), 'utf8')])
    .bytes;
}

export function openDataset(
  key: Uint8Array,
  bytes: Uint8Array,
): { dataset: string; entries: DatasetEntry[] } {
  const opened = openTextFile(key, bytes, DATASET_FILE, datasetDomain);
  return {
    dataset: opened.setId,
    entries: JSON.parse(Buffer.concat(opened.blocks).toString('utf8')) as DatasetEntry[],
  };
}

export const partFileName = (part: number): string => `part-${String(part).padStart(5, '0')}.sealed`;
