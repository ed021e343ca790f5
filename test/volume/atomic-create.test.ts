// `cloister volume create` is all or nothing: interrupted (SIGINT, SIGTERM) in the middle of a big
// volume, it leaves neither the target nor a temporary file, and a retry succeeds.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readVolumeInfo } from '../../src/image/volume-format.ts';
import { cliPath, runCli } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'cloister-volume-create-'));
// The command's own scratch space (mke2fs output): it must be emptied too.
const scratch = mkdtempSync(join(tmpdir(), 'cloister-volume-create-tmp-'));

/** Starts `volume create` and sends `signal` once its temporary file exists. */
async function interrupted(
  name: string,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; stderr: string }> {
  const target = join(dir, name);
  const child = spawn(
    process.execPath,
    [
      cliPath,
      'volume',
      'create',
      target,
      '--size',
      '2G',
      '--key-file',
      join(dir, `${name}.key`),
      '--generate-key',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TMPDIR: scratch } },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  const deadline = Date.now() + 60_000;
  while (!readdirSync(dir).some((n) => n.startsWith(`.${name}.creating-`))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`the creation never started: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  // Well inside the encryption of the initial ext4 (about 15 s for 2 GiB here).
  await new Promise((r) => setTimeout(r, 300));
  child.kill(signal);
  return { code: await closed, stderr };
}

describe('volume create is atomic', () => {
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  });

  it('leaves nothing behind when interrupted with SIGINT, and a retry succeeds', async () => {
    const r = await interrupted('big.vol', 'SIGINT');
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /volume create interrupted by SIGINT; nothing was created/);
    assert.deepEqual(readdirSync(dir), [], 'no target, no temporary file, no generated key');
    assert.deepEqual(readdirSync(scratch), [], 'the mke2fs scratch directory is gone');
    const retry = await runCli([
      'volume',
      'create',
      join(dir, 'big.vol'),
      '--size',
      '2G',
      '--key-file',
      join(dir, 'big.vol.key'),
      '--generate-key',
    ]);
    assert.equal(retry.code, 0, retry.stderr);
    assert.equal(readVolumeInfo(join(dir, 'big.vol')).sizeBytes, 2 ** 31);
    assert.deepEqual(readdirSync(dir).sort(), ['big.vol', 'big.vol.key']);
  });

  it('leaves nothing behind on SIGTERM either', async () => {
    const r = await interrupted('term.vol', 'SIGTERM');
    assert.equal(r.code, 143, r.stderr);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes('term.vol')),
      [],
    );
    assert.deepEqual(readdirSync(scratch), []);
  });

  it('refuses an existing target without touching it', async () => {
    const r = await runCli([
      'volume',
      'create',
      join(dir, 'big.vol'),
      '--size',
      '1M',
      '--key-file',
      join(dir, 'big.vol.key'),
    ]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /exists; refusing to overwrite it/);
    assert.equal(readVolumeInfo(join(dir, 'big.vol')).sizeBytes, 2 ** 31);
  });
});
