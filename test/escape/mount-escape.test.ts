/**
 * Escape attempts against a `--dir` mount, each a small WASI program run by the real
 * `cloister run` (enclave worker, host-call server thread, ring). Beside the mount sit a secret
 * file and a secret directory. Whatever a program does (renames under a kept directory
 * descriptor, symlinks with '..' or absolute targets, symlinks the host planted, '..' walks, two
 * guests racing swaps, hard links), nothing outside the mount may change or appear, and nothing of
 * it may reach the program: not its bytes, not its names, not its inode numbers (stat, listing).
 * Symlinks that stay inside the mount keep working.
 */
import assert from 'node:assert/strict';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { assemble, type Step } from './program.ts';

const SECRET = 'TOPSECRET-4f1c9';
const LEAK_NAME = 'LEAKNAME-inner.txt';
const INSIDE = 'INMOUNT-7a2e';
const ROOT = 3;

const temps: string[] = [];
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

interface Scene {
  base: string;
  mount: string;
  /** Everything outside the mount, as it was before the program ran. */
  outside: string;
  /** Inode numbers of the secret file, the secret directory and the mount's parent. */
  inodes: bigint[];
}

/** Describes every entry under `dir` (skipping `skip`): type, size, times, link count, bytes, link target. */
function snapshot(dir: string, skip: string): string {
  const lines: string[] = [];
  const walk = (path: string): void => {
    for (const name of readdirSync(path).sort()) {
      const full = join(path, name);
      if (full === skip) continue;
      const s = lstatSync(full, { bigint: true });
      let what = `${full} mode=${s.mode} size=${s.size} mtime=${s.mtimeNs} ctime=${s.ctimeNs} nlink=${s.nlink}`;
      if (s.isSymbolicLink()) what += ` -> ${readlinkSync(full)}`;
      else if (s.isFile()) what += ` ${readFileSync(full, 'utf8')}`;
      lines.push(what);
      if (s.isDirectory()) walk(full);
    }
  };
  walk(dir);
  return lines.join('\n');
}

/** A base directory holding the secrets and the mount; `plant` adds what the host puts in the mount. */
function scene(plant: (mount: string, base: string) => void = () => {}): Scene {
  const base = mkdtempSync(join(tmpdir(), 'cloister-escape-'));
  temps.push(base);
  const mount = join(base, 'mount');
  writeFileSync(join(base, 'secret.txt'), SECRET);
  mkdirSync(join(base, 'secretdir'));
  writeFileSync(join(base, 'secretdir', LEAK_NAME), SECRET);
  mkdirSync(join(mount, 'in'), { recursive: true });
  mkdirSync(join(mount, 'sub'));
  writeFileSync(join(mount, 'in', 'target.txt'), INSIDE);
  plant(mount, base);
  const inodes = [join(base, 'secret.txt'), join(base, 'secretdir'), base].map(
    (p) => lstatSync(p, { bigint: true }).ino,
  );
  return { base, mount, outside: snapshot(base, mount), inodes };
}

async function run(s: Scene, steps: Step[]): Promise<CliResult> {
  const wasm = join(s.base, '..', `${s.base.split('/').pop()}-${Math.random().toString(36).slice(2)}.wasm`);
  writeFileSync(wasm, await assemble(steps));
  temps.push(wasm);
  return runCli(['run', '--dir', `${s.mount}::/m`, wasm]);
}

function inoBytes(ino: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(ino);
  return b;
}

/** Nothing outside changed or appeared, and nothing of it reached the program. */
function assertContained(s: Scene, results: CliResult[]): void {
  for (const r of results) {
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdoutBytes.includes(SECRET), 'the secret was read');
    assert.ok(!r.stdoutBytes.includes(LEAK_NAME), 'the secret directory was listed');
    for (const ino of s.inodes) assert.ok(!r.stdoutBytes.includes(inoBytes(ino)), `inode ${ino} was stat'ed`);
  }
  assert.equal(snapshot(s.base, s.mount), s.outside, 'something outside the mount changed');
  assert.equal(readFileSync(join(s.base, 'secret.txt'), 'utf8'), SECRET);
  assert.equal(lstatSync(join(s.base, 'secret.txt')).nlink, 1, 'the secret got a hard link');
  // No file inside the mount is the secret under another name.
  const secretIno = s.inodes[0];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const st = lstatSync(join(dir, name), { bigint: true });
      assert.notEqual(st.ino, secretIno, `${join(dir, name)} is the secret`);
      if (st.isDirectory()) walk(join(dir, name));
    }
  };
  walk(s.mount);
}

const count = (text: string, part: string): number => text.split(part).length - 1;

describe('a guest cannot escape its --dir mount', () => {
  it('through a directory descriptor kept across a rename, with a symlink planted at the old name', async () => {
    const s = scene();
    const kept = { slot: 0 };
    const r = await run(s, [
      { op: 'mkdir', fd: ROOT, path: 'd' },
      { op: 'openDir', fd: ROOT, path: 'd', slot: 0 },
      { op: 'rename', fd: ROOT, from: 'd', toFd: ROOT, to: 'e' },
      { op: 'symlink', target: '..', fd: ROOT, path: 'd' },
      { op: 'probe', fd: kept, path: 'secret.txt' },
      { op: 'probe', fd: kept, path: 'secretdir' },
      { op: 'probe', fd: kept, path: `secretdir/${LEAK_NAME}` },
      { op: 'probe', fd: ROOT, path: 'd/secret.txt' },
      { op: 'create', fd: kept, path: 'new.txt' },
      { op: 'mkdir', fd: kept, path: 'newdir' },
      // The same with a directory two levels down and a link two levels up.
      { op: 'mkdir', fd: ROOT, path: 'sub/q' },
      { op: 'openDir', fd: ROOT, path: 'sub/q', slot: 1 },
      { op: 'rename', fd: ROOT, from: 'sub/q', toFd: ROOT, to: 'q2' },
      { op: 'symlink', target: '../..', fd: ROOT, path: 'sub/q' },
      { op: 'probe', fd: { slot: 1 }, path: 'secret.txt' },
      { op: 'create', fd: { slot: 1 }, path: 'new.txt' },
    ]);
    assertContained(s, [r]);
    // The kept descriptors followed their directories: what they made is in the renamed ones.
    assert.equal(readFileSync(join(s.mount, 'e', 'new.txt'), 'utf8'), 'PWNED');
    assert.ok(lstatSync(join(s.mount, 'e', 'newdir')).isDirectory());
    assert.equal(readFileSync(join(s.mount, 'q2', 'new.txt'), 'utf8'), 'PWNED');
  });

  it("through the guest's own symlinks with '..', while symlinks inside the mount keep working", async () => {
    const s = scene();
    const r = await run(s, [
      { op: 'symlink', target: '../secret.txt', fd: ROOT, path: 'l1' },
      { op: 'symlink', target: '..', fd: ROOT, path: 'l2' },
      { op: 'symlink', target: '../../secretdir', fd: ROOT, path: 'sub/l3' },
      { op: 'symlink', target: '../sub/../..', fd: ROOT, path: 'in/l4' },
      { op: 'probe', fd: ROOT, path: 'l1' },
      { op: 'probe', fd: ROOT, path: 'l2/secret.txt' },
      { op: 'probe', fd: ROOT, path: 'l2/secretdir' },
      { op: 'probe', fd: ROOT, path: 'sub/l3' },
      { op: 'probe', fd: ROOT, path: 'in/l4/secret.txt' },
      { op: 'create', fd: ROOT, path: 'l2/new.txt' },
      { op: 'mkdir', fd: ROOT, path: 'l2/newdir' },
      { op: 'symlink', target: 'in/target.txt', fd: ROOT, path: 'ok' },
      { op: 'symlink', target: '../in/target.txt', fd: ROOT, path: 'sub/ok2' },
      { op: 'symlink', target: 'sub', fd: ROOT, path: 'sublink' },
      { op: 'read', fd: ROOT, path: 'ok' },
      { op: 'read', fd: ROOT, path: 'sub/ok2' },
      { op: 'read', fd: ROOT, path: 'sublink/ok2' },
    ]);
    assertContained(s, [r]);
    assert.equal(count(r.stdout, INSIDE), 3, r.stdout);
  });

  it('through symlinks with absolute targets, made by the guest or planted by the host', async () => {
    const s = scene((mount, base) => {
      symlinkSync(base, join(mount, 'a2'));
      symlinkSync(join(base, 'secret.txt'), join(mount, 'a3'));
      symlinkSync('/', join(mount, 'a4'));
      symlinkSync(join(mount, 'in'), join(mount, 'a5'));
    });
    const r = await run(s, [
      { op: 'symlink', target: join(s.base, 'secret.txt'), fd: ROOT, path: 'a1' },
      { op: 'probe', fd: ROOT, path: 'a1' },
      { op: 'probe', fd: ROOT, path: 'a2/secret.txt' },
      { op: 'probe', fd: ROOT, path: 'a3' },
      { op: 'probe', fd: ROOT, path: `a4${s.base}/secret.txt` },
      { op: 'probe', fd: ROOT, path: 'a5/../../secret.txt' },
      { op: 'create', fd: ROOT, path: 'a2/new.txt' },
      { op: 'mkdir', fd: ROOT, path: 'a2/newdir' },
    ]);
    assertContained(s, [r]);
    // The probe's create made a plain file there; no absolute symlink was ever made.
    assert.ok(!lstatSync(join(s.mount, 'a1')).isSymbolicLink(), 'an absolute symlink was made');
  });

  it('through symlinks the host planted in a middle component', async () => {
    const s = scene((mount, base) => {
      symlinkSync('..', join(mount, 'h'));
      symlinkSync('../../secretdir', join(mount, 'sub', 'hh'));
      symlinkSync(base, join(mount, 'abs'));
    });
    const r = await run(s, [
      { op: 'probe', fd: ROOT, path: 'h/secret.txt' },
      { op: 'probe', fd: ROOT, path: `sub/hh/${LEAK_NAME}` },
      { op: 'probe', fd: ROOT, path: 'sub/hh' },
      { op: 'probe', fd: ROOT, path: 'abs/secretdir' },
      { op: 'create', fd: ROOT, path: 'h/new.txt' },
      { op: 'mkdir', fd: ROOT, path: 'h/newdir' },
      { op: 'rename', fd: ROOT, from: 'in/target.txt', toFd: ROOT, to: 'h/moved.txt' },
      { op: 'rename', fd: ROOT, from: 'h/secret.txt', toFd: ROOT, to: 'stolen.txt' },
      { op: 'unlink', fd: ROOT, path: 'h/secret.txt' },
      { op: 'rmdir', fd: ROOT, path: 'abs/secretdir' },
    ]);
    assertContained(s, [r]);
    assert.equal(readFileSync(join(s.mount, 'in', 'target.txt'), 'utf8'), INSIDE);
  });

  it("by walking '..' from the mount and from a directory opened inside it", async () => {
    const s = scene();
    const sub = { slot: 0 };
    const r = await run(s, [
      { op: 'probe', fd: ROOT, path: '../secret.txt' },
      { op: 'probe', fd: ROOT, path: 'sub/../../secret.txt' },
      { op: 'probe', fd: ROOT, path: '..' },
      { op: 'openDir', fd: ROOT, path: 'sub', slot: 0 },
      { op: 'probe', fd: sub, path: '../secret.txt' },
      { op: 'probe', fd: sub, path: '../../secret.txt' },
      { op: 'create', fd: ROOT, path: '../new.txt' },
      { op: 'mkdir', fd: ROOT, path: '../newdir' },
      { op: 'rename', fd: ROOT, from: 'in/target.txt', toFd: ROOT, to: '../moved.txt' },
      { op: 'symlink', target: 'x', fd: ROOT, path: '../newlink' },
    ]);
    assertContained(s, [r]);
  });

  it('by hard-linking the secret into the mount', async () => {
    const s = scene((mount) => symlinkSync('..', join(mount, 'h')));
    const r = await run(s, [
      { op: 'symlink', target: '../secret.txt', fd: ROOT, path: 'l1' },
      { op: 'link', fd: ROOT, from: 'l1', toFd: ROOT, to: 'hard1', follow: true },
      { op: 'link', fd: ROOT, from: 'h/secret.txt', toFd: ROOT, to: 'hard2', follow: false },
      { op: 'link', fd: ROOT, from: '../secret.txt', toFd: ROOT, to: 'hard3', follow: false },
      // Linking the symlink itself is allowed; it stays a symlink the enclave refuses to follow out.
      { op: 'link', fd: ROOT, from: 'l1', toFd: ROOT, to: 'hard4', follow: false },
      { op: 'probe', fd: ROOT, path: 'hard1' },
      { op: 'probe', fd: ROOT, path: 'hard4' },
      { op: 'link', fd: ROOT, from: 'in/target.txt', toFd: ROOT, to: 'h/hard5', follow: false },
      { op: 'link', fd: ROOT, from: 'in/target.txt', toFd: ROOT, to: 'hard6', follow: false },
      { op: 'read', fd: ROOT, path: 'hard6' },
    ]);
    assertContained(s, [r]);
    assert.equal(lstatSync(join(s.mount, 'in', 'target.txt')).nlink, 2, 'the in-mount hard link was made');
    assert.ok(r.stdout.includes(INSIDE));
  });

  it('when two guests sharing the directory race renames and symlink swaps', async () => {
    const s = scene();
    const swapper: Step[] = [
      { op: 'mkdir', fd: ROOT, path: 'x' },
      {
        op: 'loop',
        times: 300,
        steps: [
          { op: 'rename', fd: ROOT, from: 'x', toFd: ROOT, to: 'y' },
          { op: 'symlink', target: '..', fd: ROOT, path: 'x' },
          { op: 'unlink', fd: ROOT, path: 'x' },
          { op: 'symlink', target: '../..', fd: ROOT, path: 'x' },
          { op: 'unlink', fd: ROOT, path: 'x' },
          { op: 'rename', fd: ROOT, from: 'y', toFd: ROOT, to: 'x' },
        ],
      },
    ];
    const prober: Step[] = [
      {
        op: 'loop',
        times: 300,
        steps: [
          { op: 'probe', fd: ROOT, path: 'x/secret.txt' },
          { op: 'openDir', fd: ROOT, path: 'x', slot: 0 },
          { op: 'probe', fd: { slot: 0 }, path: 'secret.txt' },
          { op: 'probe', fd: { slot: 0 }, path: 'secretdir' },
          { op: 'create', fd: { slot: 0 }, path: 'made.txt' },
          { op: 'close', slot: 0 },
          { op: 'create', fd: ROOT, path: 'x/new.txt' },
          { op: 'mkdir', fd: ROOT, path: 'x/newdir' },
        ],
      },
    ];
    const results = await Promise.all([run(s, swapper), run(s, prober), run(s, prober)]);
    assertContained(s, results);
  });
});
