/** `cloister image build | inspect | verify`: make and check disk images (ext4 + dm-verity + LUKS2). */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { buildImage } from '../image/build.ts';
import type { Ext4Builder } from '../image/ext4.ts';
import { formatImageInfo, inspectImage } from '../image/inspect.ts';
import { terminalProgress } from '../image/progress.ts';
import { readKeyFile, readPassphraseFile } from './secret-files.ts';
import { verifyImage } from '../image/verify.ts';
import { UsageError } from './run-options.ts';

interface BuildFlags {
  from: string;
  output: string;
  encrypt?: boolean;
  keyFile?: string;
  passphraseFile?: string;
  sourceDateEpoch?: string;
  size?: string;
  pbkdf: 'argon2id' | 'pbkdf2';
  pbkdfIterations?: string;
  ext4Builder: Ext4Builder;
}

/** Parses `4096`, `64K`, `256M`, `1G` (binary units) into bytes. */
export function parseSize(text: string, option: string): number {
  const m = /^(\d+)\s*(k|kib|m|mib|g|gib)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${option}: cannot read ${JSON.stringify(text)} (try 64M or 1G)`);
  const unit =
    { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[(m[2]?.[0]?.toLowerCase() ?? '') as 'k' | 'm' | 'g'] ?? 1;
  const bytes = Number(m[1]) * unit;
  if (!Number.isSafeInteger(bytes) || bytes < 1 << 20) throw new UsageError(`${option} must be at least 1M`);
  return bytes;
}

function parseCount(text: string, option: string, min: number): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) < min) {
    throw new UsageError(`${option} must be an integer of at least ${min}, not ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** The secret: key-file bytes as they are, or a passphrase file's line. */
function readSecret(flags: BuildFlags): Uint8Array {
  if (flags.keyFile !== undefined) return readKeyFile(flags.keyFile);
  return readPassphraseFile(flags.passphraseFile ?? '');
}

function build(flags: BuildFlags): void {
  if (flags.keyFile !== undefined && flags.passphraseFile !== undefined) {
    throw new UsageError('give either --key-file or --passphrase-file, not both');
  }
  const hasSecret = flags.keyFile !== undefined || flags.passphraseFile !== undefined;
  if (flags.encrypt && !hasSecret) throw new UsageError('--encrypt needs --key-file or --passphrase-file');
  if (!flags.encrypt && hasSecret) throw new UsageError('--key-file/--passphrase-file need --encrypt');
  if (flags.pbkdfIterations !== undefined && flags.pbkdf !== 'pbkdf2') {
    throw new UsageError('--pbkdf-iterations needs --pbkdf pbkdf2');
  }
  if (!existsSync(flags.from)) throw new UsageError(`--from ${flags.from}: no such file or directory`);
  if (resolve(flags.from) === resolve(flags.output)) throw new UsageError('-o must not be the --from source');
  const outDir = dirname(resolve(flags.output));
  if (!existsSync(outDir) || !statSync(outDir).isDirectory()) {
    throw new UsageError(`-o ${flags.output}: the folder ${outDir} does not exist`);
  }
  const epochText = flags.sourceDateEpoch ?? process.env.SOURCE_DATE_EPOCH ?? '0';
  const epoch = parseCount(epochText, '--source-date-epoch', 0);
  if (epoch > 2 ** 32 - 1) throw new UsageError('--source-date-epoch is beyond 2106');
  const kdf =
    flags.pbkdf === 'pbkdf2'
      ? {
          type: 'pbkdf2' as const,
          iterations: parseCount(flags.pbkdfIterations ?? '600000', '--pbkdf-iterations', 1000),
        }
      : { type: 'argon2id' as const };
  const encrypt = flags.encrypt ? { secret: readSecret(flags), kdf } : undefined;
  const size = flags.size === undefined ? undefined : parseSize(flags.size, '--size');
  const progress = terminalProgress();
  try {
    const result = buildImage({
      from: flags.from,
      out: flags.output,
      epoch,
      size,
      encrypt,
      ext4Builder: flags.ext4Builder,
      onProgress: progress.onProgress,
      warn: (message) => process.stderr.write(`cloister: warning: ${message}\n`),
    });
    progress.stop();
    const d = result.descriptor;
    process.stderr.write(
      `cloister: built ${flags.output} (${d.size} bytes, from ${result.source}, ext4 by ${result.ext4Builder}); ` +
        `run it with --root-hash ${d.rootHash} --hash-offset ${d.verity.hashOffset} (see ${result.descriptorPath})\n`,
    );
    process.stdout.write(`${d.rootHash}\n`);
  } finally {
    progress.stop();
  }
}

function imagePath(path: string): string {
  if (!existsSync(path)) throw new UsageError(`${path}: no such file`);
  if (!statSync(path).isFile()) throw new UsageError(`${path}: not a file`);
  return path;
}

/** Adds `cloister image build | inspect | verify` to the program. */
export function registerImageCommands(program: Command): void {
  const image = program
    .command('image')
    .description('build and check disk images: ext4 + dm-verity, optionally LUKS2-encrypted');

  image
    .command('build')
    .description('build IMG from a directory, tar or OCI image; prints the root hash and writes IMG.json')
    .requiredOption('--from <SRC>', 'directory, tar (plain or gzip), OCI layout or `docker save` archive')
    .requiredOption('-o, --output <IMG>', 'image file to write')
    .option('--encrypt', 'encrypt the file system with LUKS2 (aes-xts-plain64) before dm-verity')
    .option('--key-file <F>', 'LUKS2 secret: the whole file, byte for byte (as cryptsetup --key-file)')
    .option('--passphrase-file <F>', 'LUKS2 passphrase: the file without its final newline')
    .option(
      '--source-date-epoch <N>',
      'timestamp for every file and the file system (default $SOURCE_DATE_EPOCH or 0)',
    )
    .option('--size <SIZE>', 'ext4 size, e.g. 64M (default: the contents plus headroom)')
    .addOption(
      new Option('--pbkdf <KDF>', 'LUKS2 keyslot KDF').choices(['argon2id', 'pbkdf2']).default('argon2id'),
    )
    .option('--pbkdf-iterations <N>', 'pbkdf2 iterations (default 600000)')
    .addOption(
      new Option('--ext4-builder <WHO>', 'who writes the ext4: mke2fs (e2fsprogs) or the built-in libext2fs')
        .choices(['auto', 'mke2fs', 'libext2fs'])
        .default('auto'),
    )
    .action((flags: BuildFlags) => build(flags));

  image
    .command('inspect')
    .description('show the layout, root hash, dm-verity parameters, LUKS2 keyslots and sizes of IMG')
    .argument('<IMG>', 'image file (IMG.json is read when present)')
    .option('--json', 'print JSON')
    .action((path: string, flags: { json?: boolean }) => {
      const info = inspectImage(imagePath(path));
      process.stdout.write(flags.json ? `${JSON.stringify(info, null, 2)}\n` : `${formatImageInfo(info)}\n`);
    });

  image
    .command('verify')
    .description('check every block of IMG against the root hash (like veritysetup verify); exit 0 or 1')
    .argument('<IMG>', 'image file')
    .option('--root-hash <HEX>', 'the trusted root hash (default: the one in IMG.json)')
    .option('--hash-offset <BYTES>', 'offset of the dm-verity superblock (default: IMG.json, else found)')
    .action((path: string, flags: { rootHash?: string; hashOffset?: string }) => {
      if (flags.rootHash !== undefined && !/^[0-9a-fA-F]{64}$/.test(flags.rootHash)) {
        throw new UsageError('--root-hash must be 64 hex digits');
      }
      const hashOffset =
        flags.hashOffset === undefined ? undefined : parseCount(flags.hashOffset, '--hash-offset', 0);
      const progress = terminalProgress();
      try {
        const result = verifyImage(imagePath(path), {
          rootHash: flags.rootHash?.toLowerCase(),
          hashOffset,
          onProgress: progress.onProgress,
        });
        progress.stop();
        const from =
          result.rootHashFrom === 'descriptor'
            ? ' (root hash from IMG.json: pass --root-hash to check against a trusted one)'
            : '';
        process.stdout.write(`${result.message}${result.ok ? from : ''}\n`);
        process.exitCode = result.ok ? 0 : 1;
      } finally {
        progress.stop();
      }
    });
}
