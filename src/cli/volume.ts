/** `cloister volume create | inspect`: writable, encrypted and authenticated ext4 volumes. */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createVolumeFile, readVolumeInfo } from '../image/volume-format.ts';
import { readVolumeKey } from './disk-options.ts';
import { UsageError } from './run-options.ts';

/** Parses `256M`, `1G`, `4096K` or a byte count. */
export function parseSize(text: string): number {
  const m = /^(\d+)([KMG]i?B?)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--size: cannot read ${JSON.stringify(text)} (try 256M)`);
  const unit = m[2]?.[0]?.toUpperCase();
  const bytes =
    Number(m[1]) * (unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : 1);
  if (bytes < 1024 * 1024 || bytes % 4096 !== 0)
    throw new UsageError('--size must be at least 1M and a multiple of 4K');
  return bytes;
}

/** An ext4 file system of `size` bytes, made by mke2fs on a temporary plain file. */
function makeExt4(size: number, dir: string): string {
  const path = join(dir, 'fs.ext4');
  writeFileSync(path, '');
  const r = spawnSync(
    'mke2fs',
    ['-q', '-F', '-t', 'ext4', '-b', '4096', '-E', 'root_owner=0:0', path, `${size / 1024}k`],
    {
      encoding: 'utf8',
    },
  );
  if (r.error) throw new UsageError('mke2fs not found: install e2fsprogs (apt-get install e2fsprogs)');
  if (r.status !== 0) throw new Error(`mke2fs failed: ${r.stderr.trim()}`);
  return path;
}

export function registerVolumeCommands(program: Command): void {
  const volume = program.command('volume').description('writable, encrypted and authenticated volumes');
  volume
    .command('create')
    .description('create a volume holding an empty ext4 file system')
    .argument('<VOLUME>', 'the volume file to create')
    .requiredOption('--size <SIZE>', 'capacity, e.g. 256M (the file takes about twice that, sparse)')
    .requiredOption('--key-file <FILE>', 'the volume key: 32 bytes or 64 hex digits')
    .option('--generate-key', 'write a new random key to --key-file first (mode 0600)')
    .action((path: string, options: { size: string; keyFile: string; generateKey?: boolean }) => {
      if (existsSync(path)) throw new UsageError(`${path} exists; refusing to overwrite it`);
      const size = parseSize(options.size);
      if (options.generateKey) {
        if (existsSync(options.keyFile))
          throw new UsageError(`${options.keyFile} exists; refusing to overwrite a key`);
        writeFileSync(options.keyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
      }
      const key = readVolumeKey(options.keyFile);
      const scratch = mkdtempSync(join(tmpdir(), 'cloister-volume-'));
      try {
        const info = createVolumeFile(path, size, key, { initialContent: makeExt4(size, scratch) });
        const uuid = Buffer.from(info.uuid)
          .toString('hex')
          .replace(/(.{8})(.{4})(.{4})(.{4})(.{12})/, '$1-$2-$3-$4-$5');
        process.stdout.write(
          `${path}: volume ${uuid}, ${size} bytes of ext4, generation ${info.generation}\n`,
        );
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    });
  volume
    .command('inspect')
    .description('print what the volume header says (not authenticated without the key)')
    .argument('<VOLUME>')
    .option('--json', 'machine-readable output')
    .action((path: string, options: { json?: boolean }) => {
      if (!existsSync(path)) throw new UsageError(`${path}: no such file`);
      const info = readVolumeInfo(path);
      if (options.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
      else {
        process.stdout.write(
          `volume ${info.uuid}\ncapacity ${info.sizeBytes} bytes (${info.logicalBlocks} blocks of 4 KiB)\n` +
            `generation ${info.generation}\nfile ${info.fileBytes} bytes\n`,
        );
      }
    });
}
