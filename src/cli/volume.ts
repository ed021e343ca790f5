/**
 * `cloister volume create | inspect | ls | cp | rm | fsck`: writable, encrypted and authenticated ext4
 * volumes; the last four work inside an enclave (volume-tool.ts).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createVolumeFile, readVolumeInfo } from '../image/volume-format.ts';
import { readVolumeKey } from './disk-options.ts';
import { UsageError } from './run-options.ts';
import { stderrProgress } from './progress-bar.ts';
import {
  checkRun,
  copyRun,
  listRun,
  removeRun,
  requireVolumeRef,
  runVolumeTool,
  type VolumeToolOptions,
} from './volume-tool.ts';

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

/** An ext4 file system of `size` bytes, made by mke2fs on a temporary plain file; killed on abort. */
async function makeExt4(size: number, dir: string, signal: AbortSignal): Promise<string> {
  const path = join(dir, 'fs.ext4');
  writeFileSync(path, '');
  const args = ['-q', '-F', '-t', 'ext4', '-b', '4096', '-E', 'root_owner=0:0', path, `${size / 1024}k`];
  const child = spawn('mke2fs', args, { stdio: ['ignore', 'ignore', 'pipe'], signal });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new UsageError('mke2fs not found: install e2fsprogs (apt-get install e2fsprogs)')
          : error,
      ),
    );
    child.on('close', resolve);
  });
  signal.throwIfAborted();
  if (code !== 0) throw new Error(`mke2fs failed: ${stderr.trim()}`);
  return path;
}

/**
 * `volume create`: mke2fs into a scratch file, then the volume built beside the target and linked
 * into place. SIGINT/SIGTERM abort it; everything made so far is removed before exiting 128 + signal.
 */
async function create(path: string, options: { size: string; keyFile: string; generateKey?: boolean }) {
  if (existsSync(path)) throw new UsageError(`${path} exists; refusing to overwrite it`);
  const size = parseSize(options.size);
  const controller = new AbortController();
  let caught: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    caught ??= signal;
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const scratch = mkdtempSync(join(tmpdir(), 'cloister-volume-'));
  let keyMade = false;
  let created = false;
  try {
    if (options.generateKey) {
      if (existsSync(options.keyFile))
        throw new UsageError(`${options.keyFile} exists; refusing to overwrite a key`);
      writeFileSync(options.keyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
      keyMade = true;
    }
    if (!options.generateKey && !existsSync(options.keyFile)) {
      throw new UsageError(
        `--key-file ${options.keyFile}: no such file (add --generate-key to make a new random key there)`,
      );
    }
    const key = readVolumeKey(options.keyFile, '--key-file');
    const signal = controller.signal;
    const content = await makeExt4(size, scratch, signal);
    const bar = stderrProgress('encrypting');
    let info;
    try {
      info = await createVolumeFile(path, size, key, {
        initialContent: content,
        signal,
        onProgress: (done, total) => bar.update(done, total),
      });
    } finally {
      bar.stop();
    }
    created = true;
    const uuid = Buffer.from(info.uuid)
      .toString('hex')
      .replace(/(.{8})(.{4})(.{4})(.{4})(.{12})/, '$1-$2-$3-$4-$5');
    process.stdout.write(`${path}: volume ${uuid}, ${size} bytes of ext4, generation ${info.generation}\n`);
  } catch (error) {
    if (caught === undefined) throw error;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    // A key made for a volume that was not created would only block a retry with --generate-key.
    if (keyMade && !created) rmSync(options.keyFile, { force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (caught !== undefined && !created) {
    process.stderr.write(`cloister: volume create interrupted by ${caught}; nothing was created\n`);
    process.exit(caught === 'SIGINT' ? 130 : 143);
  }
}

export function registerVolumeCommands(program: Command): void {
  const volume = program.command('volume').description('writable, encrypted and authenticated volumes');
  volume
    .command('create')
    .description('create a volume holding an empty ext4 file system (atomically: all or nothing)')
    .argument('<VOLUME>', 'the volume file to create')
    .requiredOption('--size <SIZE>', 'capacity, e.g. 256M (the file takes about twice that, sparse)')
    .requiredOption('--key-file <FILE>', 'the volume key: 32 bytes or 64 hex digits')
    .option('--generate-key', 'write a new random key to --key-file first (mode 0600)')
    .action(create);
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

  const toolCommand = (name: string, description: string): Command =>
    volume
      .command(name)
      .description(description)
      .option('--key-file <FILE>', 'the volume key: 32 bytes or 64 hex digits')
      .option('--volume-key-file <FILE>', 'the same as --key-file (the name `run` uses)')
      .option('--kbs <URL>', "key broker keeping the volume's generation counter (rollback protection)")
      .option('--kbs-key <FILE>', "the broker's public key (cloister kbs public-key), needed with --kbs")
      .option('--kbs-ca <FILE>', 'CA certificate(s) (PEM) the host trusts for an https --kbs');
  const exitWith = async (run: Promise<number>): Promise<void> => {
    process.exitCode = await run;
  };
  toolCommand('ls', 'list a directory (or show a file) inside a volume, in an enclave')
    .argument('<VOLUME[:/PATH]>', 'the volume, and the path inside it (default /)')
    .action((target: string, options: VolumeToolOptions) =>
      exitWith(runVolumeTool(listRun(requireVolumeRef(target, 'ls')), options)),
    );
  toolCommand('cp', 'copy a file into or out of a volume, in an enclave (VOLUME:/PATH names the volume side)')
    .argument('<SOURCE>', 'a host file, or VOLUME:/PATH')
    .argument('<TARGET>', 'VOLUME:/PATH (a directory there keeps the name), or a host file or folder')
    .action((source: string, target: string, options: VolumeToolOptions) =>
      exitWith(runVolumeTool(copyRun(source, target), options)),
    );
  toolCommand('rm', 'remove a file or an empty directory (-r: a whole tree) inside a volume, in an enclave')
    .argument('<VOLUME:/PATH>')
    .option('-r, --recursive', 'remove a directory and everything in it (e.g. a stale SQLite lock directory)')
    .action((target: string, options: VolumeToolOptions & { recursive?: boolean }) =>
      exitWith(runVolumeTool(removeRun(requireVolumeRef(target, 'rm'), options.recursive ?? false), options)),
    );
  toolCommand(
    'fsck',
    'check a volume in an enclave: every block authenticated, every directory and file read, link counts',
  )
    .argument('<VOLUME>')
    .action((target: string, options: VolumeToolOptions) =>
      exitWith(runVolumeTool(checkRun(requireVolumeRef(target, 'fsck')), options)),
    );
}
