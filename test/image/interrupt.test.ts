// An interrupted `cloister image build` (Ctrl-C or kill -9) leaves neither its staging folder nor a
// partial image behind; a missing output folder is named before any work starts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliPath, runCli } from '../helpers/cli.ts';
import { requireTools } from './helpers/image.ts';

const dir = mkdtempSync(join(tmpdir(), 'cloister-interrupt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Polls `check` every 20 ms for at most `ms`. */
async function within(ms: number, check: () => boolean): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) if (check()) return true;
  return check();
}

async function interruptedBuild(signal: NodeJS.Signals): Promise<void> {
  const scratchParent = join(dir, `tmp-${signal}`);
  mkdirSync(scratchParent);
  const src = join(dir, `src-${signal}`);
  mkdirSync(src);
  // Big enough that the build is still running when it is interrupted.
  for (let i = 0; i < 8; i++) writeFileSync(join(src, `f${i}`), Buffer.alloc(24 << 20, i + 1));
  const out = join(dir, `out-${signal}.img`);
  const child = spawn(process.execPath, [cliPath, 'image', 'build', '--from', src, '-o', out], {
    env: { ...process.env, TMPDIR: scratchParent },
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : null))),
  );
  const started = await within(20_000, () => readdirSync(scratchParent).length > 0);
  assert.ok(started, 'the build made its staging folder');
  child.kill(signal);
  await exited;
  const cleaned = await within(
    20_000,
    () => readdirSync(scratchParent).length === 0 && !existsSync(`${out}.partial`),
  );
  assert.ok(
    cleaned,
    `left behind: ${readdirSync(scratchParent).join(', ')} ${existsSync(`${out}.partial`) ? `${out}.partial` : ''}`,
  );
  assert.equal(existsSync(out), false, 'no image under the target name');
  assert.equal(existsSync(`${out}.json`), false, 'no descriptor under the target name');
}

describe('interrupted image build', () => {
  it('Ctrl-C removes the staging folder and the partial image', async (t) => {
    if (!requireTools(t, 'mke2fs', 'debugfs')) return;
    await interruptedBuild('SIGINT');
  });

  it('kill -9 removes them too', async (t) => {
    if (!requireTools(t, 'mke2fs', 'debugfs')) return;
    await interruptedBuild('SIGKILL');
  });

  it('-o in a folder that does not exist is named before anything is built', async () => {
    const src = join(dir, 'small');
    mkdirSync(src);
    const r = await runCli(['image', 'build', '--from', src, '-o', join(dir, 'missing', 'x.img')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^cloister: error: -o .*missing\/x\.img: the folder .*missing does not exist\n$/);
  });
});
