// Progress bars: `volume create` and unlocking a passphrase-protected image (`run IMG`) draw one
// on a terminal's stderr, and nothing when stderr is a pipe.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { cliPath, runCli, tempDir, withoutSimWarning } from '../helpers/cli.ts';
import { buildSevenImage } from '../helpers/seven-image.ts';
import { requireTool } from '../storage/helpers/tools.ts';

/** Runs the CLI under a pseudo-terminal (util-linux `script`), returning what the terminal showed. */
function onTerminal(args: string[]): { status: number | null; screen: string } {
  const command = [process.execPath, cliPath, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, screen: r.stdout };
}

describe('progress bars', () => {
  it('volume create shows its progress on a terminal', () => {
    const dir = tempDir();
    const { status, screen } = onTerminal([
      'volume',
      'create',
      join(dir, 'v.vol'),
      '--size',
      '64M',
      '--key-file',
      join(dir, 'k'),
      '--generate-key',
    ]);
    assert.equal(status, 0, screen);
    assert.match(screen, /encrypting \[[█░]+\] \d+% \| \d+ MiB\/64 MiB/);
    assert.match(screen, /encrypting \[█+\] 100% \| 64 MiB\/64 MiB/);
    assert.match(screen, /v\.vol: volume [0-9a-f-]+, 67108864 bytes of ext4/);
  });

  it('volume create draws nothing when stderr is not a terminal', async () => {
    const dir = tempDir();
    const r = await runCli([
      'volume',
      'create',
      join(dir, 'v.vol'),
      '--size',
      '64M',
      '--key-file',
      join(dir, 'k'),
      '--generate-key',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^\S+v\.vol: volume [0-9a-f-]+, 67108864 bytes of ext4, generation \d+\n$/);
  });
});

describe('progress bar of unlocking an image', () => {
  const dir = tempDir();
  const pass = join(dir, 'app.pass');
  before(async () => {
    writeFileSync(pass, 'correct horse\n');
    await buildSevenImage(dir, join(dir, 'argon.img'), pass);
    await buildSevenImage(dir, join(dir, 'pbkdf2.img'), pass, [
      '--pbkdf',
      'pbkdf2',
      '--pbkdf-iterations',
      '1000',
    ]);
  });

  it('run IMG --passphrase-file shows the key derivation on a terminal (argon2id)', (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    const { status, screen } = onTerminal([
      'run',
      join(dir, 'argon.img'),
      '--passphrase-file',
      pass,
      '--',
      '/bin/seven.wasm',
    ]);
    assert.equal(status, 7, screen);
    assert.match(screen, /unlocking \[█+\] 100% \| \d+s/);
  });

  it('draws nothing when stderr is not a terminal', async (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    const r = await runCli([
      'run',
      join(dir, 'argon.img'),
      '--passphrase-file',
      pass,
      '--',
      '/bin/seven.wasm',
    ]);
    assert.equal(r.code, 7, r.stderr);
    assert.equal(withoutSimWarning(r.stderr), '');
  });

  it('a pbkdf2 keyslot unlocks without a bar (node:crypto reports no progress)', (t) => {
    if (!requireTool(t, 'mke2fs')) return;
    const { status, screen } = onTerminal([
      'run',
      join(dir, 'pbkdf2.img'),
      '--passphrase-file',
      pass,
      '--',
      '/bin/seven.wasm',
    ]);
    assert.equal(status, 7, screen);
    assert.doesNotMatch(screen, /unlocking/);
  });
});
