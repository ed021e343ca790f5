/** Resolving a textFile pattern to sealed files: a directory, one file, or `dir/*.sealed`-style globs in the last part. */
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DataflowError } from '../errors.ts';

const isInput = (name: string): boolean => name.endsWith('.sealed') && !name.startsWith('_');

export function listSealedFiles(pattern: string, cwd = process.cwd()): string[] {
  const path = resolve(cwd, pattern);
  const name = basename(path);
  let files: string[];
  if (name.includes('*')) {
    const re = new RegExp(`^${name.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    files = readdirSync(dirname(path))
      .filter((n) => re.test(n) && isInput(n))
      .map((n) => join(dirname(path), n));
  } else if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) {
    files = readdirSync(path)
      .filter(isInput)
      .map((n) => join(path, n));
  } else if (statSync(path, { throwIfNoEntry: false })?.isFile()) {
    files = [path];
  } else {
    throw new DataflowError(`textFile(${JSON.stringify(pattern)}): no such file or directory`);
  }
  if (files.length === 0) throw new DataflowError(`textFile(${JSON.stringify(pattern)}): no sealed files`);
  return files.sort();
}
