// Progress bars: `volume create` draws one on a terminal's stderr, and nothing when stderr is a pipe.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliPath, runCli, tempDir } from '../helpers/cli.ts';

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
