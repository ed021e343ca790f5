/**
 * The host's directory handlers (`src/host/calls/dir.ts`, behind `src/host/host-calls.ts`) on their
 * own, called as the ring server calls them: with symlinks planted in every component of a path,
 * with names that are not single components, and with directories swapped for symlinks after the
 * enclave got their handles. The host must act only on the entry named, never through a symlink,
 * never outside the mount.
 */
import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  lstatSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createHostCalls } from '../../src/host/host-calls.ts';
import type { Response } from '../../src/host/ring-server.ts';
import { createStdinMailbox, StdinReader } from '../../src/host/stdin-bridge.ts';
import { Calls, type CallSpec } from '../../src/interface/calls.ts';
import { decodeDirEntries, decodeStat, encodeNamePair, encodeUtf8 } from '../../src/interface/codec.ts';
import { Errno } from '../../src/interface/errno.ts';
import { createMailbox } from '../../src/interface/mailbox.ts';
import { OpenFlag } from '../../src/interface/ring.ts';
import { FileType } from '../../src/interface/services.ts';

const SECRET = 'outside the mount';
const temps: string[] = [];
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** base/{secret.txt, secretdir/inner.txt} beside base/mount/a/b/c/f. */
function tree(): { base: string; mount: string; serve: ReturnType<typeof server> } {
  const base = mkdtempSync(join(tmpdir(), 'cloister-handlers-'));
  temps.push(base);
  writeFileSync(join(base, 'secret.txt'), SECRET);
  mkdirSync(join(base, 'secretdir'));
  writeFileSync(join(base, 'secretdir', 'inner.txt'), SECRET);
  const mount = join(base, 'mount');
  mkdirSync(join(mount, 'a', 'b', 'c'), { recursive: true });
  writeFileSync(join(mount, 'a', 'b', 'c', 'f'), 'inside');
  return { base, mount, serve: server(mount) };
}

function server(mount: string) {
  const handle = createHostCalls({
    mounts: [mount],
    blockDevices: [],
    stdin: new StdinReader(createStdinMailbox(), () => {}),
    onExit: () => {},
    clockPage: new BigInt64Array(new SharedArrayBuffer(8)),
    qeMailbox: createMailbox(),
    netMailbox: createMailbox(),
  });
  let seq = 0;
  return (
    spec: CallSpec,
    args: bigint[],
    payload: string | Uint8Array = '',
  ): Response & { data: Uint8Array } => {
    const data = new Uint8Array(65536);
    const bytes = typeof payload === 'string' ? encodeUtf8(payload) : payload;
    const res = handle({ callId: spec.id, seq: seq++, args, payload: bytes, replyLimit: data.length, data });
    return { ...res, data: data.subarray(0, res.replyLength ?? 0) };
  };
}

type Serve = ReturnType<typeof server>;

function root(serve: Serve): bigint {
  const r = serve(Calls.dirRoot, [0n]);
  assert.equal(r.errno, Errno.SUCCESS);
  return r.result!;
}

function lookup(
  serve: Serve,
  dir: bigint,
  name: string,
): { errno: number; filetype?: number; handle?: bigint } {
  const r = serve(Calls.dirLookup, [dir, 0n, 0n, 0n], name);
  if (r.errno !== Errno.SUCCESS) return { errno: r.errno };
  return { errno: r.errno, filetype: decodeStat(r.data).filetype, handle: r.result ?? 0n };
}

/** Walks `names` from the root by handle; returns the handle of the last directory. */
function walk(serve: Serve, names: string[]): bigint {
  let dir = root(serve);
  for (const name of names) {
    const found = lookup(serve, dir, name);
    assert.equal(found.filetype, FileType.DIRECTORY, name);
    dir = found.handle!;
  }
  return dir;
}

const READ = 0n;
const WRITE_CREATE = BigInt(OpenFlag.write | OpenFlag.create | OpenFlag.truncate);

function assertSecretsUntouched(base: string): void {
  assert.equal(readFileSync(join(base, 'secret.txt'), 'utf8'), SECRET);
  assert.equal(readFileSync(join(base, 'secretdir', 'inner.txt'), 'utf8'), SECRET);
  assert.deepEqual(
    ['secret.txt', 'secretdir', 'mount'].map((n) => statSync(join(base, n)).isDirectory()),
    [false, true, true],
  );
  assert.throws(() => lstatSync(join(base, 'secretdir', 'x')));
  assert.throws(() => lstatSync(join(base, 'x')));
}

describe('host directory handlers', () => {
  const components = ['a', 'b', 'c', 'f'];
  for (const [i, name] of components.entries()) {
    it(`never follow a symlink planted at component ${i + 1} (${name}) of a/b/c/f`, () => {
      const { base, mount, serve } = tree();
      const parent = join(mount, ...components.slice(0, i));
      renameSync(join(parent, name), join(parent, `${name}.real`));
      symlinkSync(
        name === 'f' ? join(base, 'secret.txt') : '../'.repeat(i + 1) + 'secretdir',
        join(parent, name),
      );
      const dir = walk(serve, components.slice(0, i));
      // The link is reported as a link, without a handle, and never opened, listed or written through.
      assert.deepEqual(lookup(serve, dir, name), { errno: 0, filetype: FileType.SYMBOLIC_LINK, handle: 0n });
      assert.equal(serve(Calls.dirOpen, [dir, READ], name).errno, Errno.LOOP);
      assert.equal(serve(Calls.dirOpen, [dir, WRITE_CREATE], name).errno, Errno.LOOP);
      for (const spec of [Calls.dirMkdir, Calls.dirRmdir])
        assert.notEqual(serve(spec, [dir], `${name}/x`).errno, 0);
      assert.equal(serve(Calls.dirOpen, [dir, WRITE_CREATE], `${name}/x`).errno, Errno.INVAL);
      // utimes acts on the link itself; readlink reads it; unlink removes the link, not its target.
      assert.equal(serve(Calls.dirUtimes, [dir, 0n, 0n], name).errno, Errno.SUCCESS);
      assert.equal(lstatSync(join(parent, name)).mtimeMs, 0);
      assert.equal(serve(Calls.dirReadlink, [dir], name).errno, Errno.SUCCESS);
      assert.equal(serve(Calls.dirUnlink, [dir], name).errno, Errno.SUCCESS);
      assertSecretsUntouched(base);
      assert.ok(statSync(join(base, 'secretdir')).mtimeMs > 0);
    });
  }

  it('refuse names that are not single components', () => {
    const { base, serve } = tree();
    const dir = root(serve);
    for (const name of ['', '.', '..', '../secret.txt', 'a/b', '/etc/passwd', 'a\0b', 'a/../../secret.txt']) {
      for (const spec of [
        Calls.dirLookup,
        Calls.dirOpen,
        Calls.dirMkdir,
        Calls.dirUnlink,
        Calls.dirReadlink,
      ]) {
        const args = spec === Calls.dirLookup ? [dir, 0n, 0n, 0n] : [dir, WRITE_CREATE];
        assert.equal(serve(spec, args, name).errno, Errno.INVAL, `${spec.name} ${JSON.stringify(name)}`);
      }
      // A NUL inside a name breaks the pair apart: the request does not decode, also EINVAL.
      assert.equal(serve(Calls.dirRename, [dir, dir], encodeNamePair('a', name)).errno, Errno.INVAL);
      assert.equal(serve(Calls.dirLink, [dir, dir], encodeNamePair(name, 'x')).errno, Errno.INVAL);
      assert.equal(serve(Calls.dirSymlink, [dir], encodeNamePair('t', name)).errno, Errno.INVAL);
    }
    assertSecretsUntouched(base);
  });

  it('keep a directory handle on its directory after it is renamed and a symlink takes its name', () => {
    const { base, mount, serve } = tree();
    const c = walk(serve, ['a', 'b', 'c']);
    const a = walk(serve, ['a']);
    renameSync(join(mount, 'a', 'b'), join(mount, 'a', 'moved'));
    symlinkSync('../..', join(mount, 'a', 'b'));
    const opened = serve(Calls.dirOpen, [c, READ], 'f');
    assert.equal(opened.errno, Errno.SUCCESS);
    const read = serve(Calls.filePread, [opened.result!, 0n, 100n]);
    assert.equal(new TextDecoder().decode(read.data), 'inside');
    assert.equal(serve(Calls.dirOpen, [c, WRITE_CREATE], 'new').errno, Errno.SUCCESS);
    assert.equal(readFileSync(join(mount, 'a', 'moved', 'c', 'new'), 'utf8'), '');
    const listing = decodeDirEntries(serve(Calls.dirReaddir, [c, 0n, 100n]).data).map((e) => e.name);
    assert.deepEqual(listing.sort(), ['f', 'new']);
    assert.equal(lookup(serve, a, 'b').filetype, FileType.SYMBOLIC_LINK);
    assert.equal(readlinkSync(join(mount, 'a', 'b')), '../..');
    assertSecretsUntouched(base);
  });

  it('rename and link the entries themselves, never what a symlink points to', () => {
    const { base, mount, serve } = tree();
    symlinkSync(join(base, 'secret.txt'), join(mount, 'l'));
    const dir = root(serve);
    assert.equal(serve(Calls.dirLink, [dir, dir], encodeNamePair('l', 'hard')).errno, Errno.SUCCESS);
    assert.ok(lstatSync(join(mount, 'hard')).isSymbolicLink(), 'the link itself was linked');
    assert.equal(lstatSync(join(base, 'secret.txt')).nlink, 1);
    writeFileSync(join(mount, 'x'), 'x');
    assert.equal(serve(Calls.dirRename, [dir, dir], encodeNamePair('x', 'l')).errno, Errno.SUCCESS);
    assert.equal(readFileSync(join(mount, 'l'), 'utf8'), 'x', 'the link was replaced, not its target');
    assertSecretsUntouched(base);
  });

  it('refuse a file handle as a directory handle and unknown handles', () => {
    const { serve } = tree();
    const c = walk(serve, ['a', 'b', 'c']);
    const file = serve(Calls.dirOpen, [c, READ], 'f').result!;
    assert.equal(serve(Calls.dirLookup, [file, 0n, 0n, 0n], 'x').errno, Errno.BADF);
    assert.equal(serve(Calls.dirReaddir, [999n, 0n, 10n]).errno, Errno.BADF);
    assert.equal(serve(Calls.dirClose, [c]).errno, Errno.SUCCESS);
    assert.equal(serve(Calls.dirOpen, [c, READ], 'f').errno, Errno.BADF);
    assert.equal(serve(Calls.dirRoot, [1n]).errno, Errno.INVAL);
  });

  it('close every handle when the enclave exits', () => {
    const { serve } = tree();
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const before = fds();
    const c = walk(serve, ['a', 'b', 'c']);
    assert.equal(serve(Calls.dirOpen, [c, READ], 'f').errno, Errno.SUCCESS);
    assert.ok(fds() >= before + 5);
    assert.equal(serve(Calls.exit, [0n, 0n]).errno, Errno.SUCCESS);
    assert.equal(fds(), before);
    assert.equal(serve(Calls.dirOpen, [c, READ], 'f').errno, Errno.BADF);
  });
});
