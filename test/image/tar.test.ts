// The tar reader and the stager: formats it must read, and hostile archives it must refuse.
import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ImageError } from '../../src/image/errors.ts';
import { openSource, stageSource } from '../../src/image/sources.ts';
import { Stager } from '../../src/image/stage.ts';
import { maybeGunzip, readTar } from '../../src/image/tar.ts';
import { gnuLongName, member, pax, tar, writeOciLayout } from './helpers/tar.ts';
import { tempDir } from './helpers/image.ts';

const dir = tempDir();
let n = 0;

/** Stages a tar (as `--from` would) into a fresh directory and returns it. */
function stageTar(archive: Uint8Array): string {
  const file = join(dir, `in-${n}.tar`);
  const root = join(dir, `root-${n++}`);
  writeFileSync(file, archive);
  mkdirSync(root);
  stageSource(openSource(file), new Stager(root));
  return root;
}

describe('tar reader', () => {
  it('reads ustar files, directories, symlinks and hard links', () => {
    const entries = readTar(
      tar(
        { name: 'etc/' },
        { name: 'etc/hosts', data: 'localhost\n', mode: 0o600, uid: 5, gid: 6 },
        { name: 'etc/link', type: '2', linkName: 'hosts' },
        { name: 'etc/hard', type: '1', linkName: 'etc/hosts' },
      ),
      't.tar',
    );
    assert.deepEqual(
      entries.map((e) => [e.path, e.type, e.mode, e.uid, e.gid, Buffer.from(e.data).toString(), e.linkName]),
      [
        ['etc/', 'dir', 0o755, 0, 0, '', ''],
        ['etc/hosts', 'file', 0o600, 5, 6, 'localhost\n', ''],
        ['etc/link', 'symlink', 0o644, 0, 0, '', 'hosts'],
        ['etc/hard', 'hardlink', 0o644, 0, 0, '', 'etc/hosts'],
      ],
    );
  });

  it('takes long names from pax and GNU headers', () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
    const entries = readTar(
      tar(
        pax({ path: long, uid: '1000' }),
        { name: 'short' },
        gnuLongName(`${long}-gnu`),
        { name: 'short2', data: 'x' },
        pax({ linkpath: 'a'.repeat(200) }),
        { name: 'l', type: '2' },
      ),
      't.tar',
    );
    assert.equal(entries[0].path, long);
    assert.equal(entries[0].uid, 1000);
    assert.equal(entries[1].path, `${long}-gnu`);
    assert.equal(entries[2].linkName, 'a'.repeat(200));
  });

  it('reads gzip archives and bounds what they decompress to', () => {
    const plain = tar({ name: 'a', data: 'x'.repeat(100000) });
    assert.ok(Buffer.from(maybeGunzip(gzipSync(plain), 'g')).equals(plain));
    assert.throws(
      () => maybeGunzip(gzipSync(plain), 'g', { maxArchiveBytes: 4096 }),
      /decompresses to more than/,
    );
  });

  it('refuses a truncated header, truncated data and a bad checksum', () => {
    const good = tar({ name: 'a', data: 'hello' });
    assert.throws(() => readTar(good.subarray(0, 300), 't'), /truncated tar header/);
    assert.throws(() => readTar(member({ name: 'a', data: 'x', declaredSize: 5000 }), 't'), /truncated/);
    const bad = Buffer.from(good);
    bad[0] ^= 1;
    assert.throws(() => readTar(bad, 't'), /bad tar header checksum/);
  });

  it('refuses members larger than the limit before reading them', () => {
    const huge = member({ name: 'big', declaredSize: 0o77777777777 });
    assert.throws(
      () => readTar(huge, 't'),
      (e) => e instanceof ImageError && /declares 8589934591 bytes/.test(e.message),
    );
  });

  it('refuses archives over the limit before reading them', () => {
    const file = join(dir, 'big.tar');
    writeFileSync(file, tar({ name: 'a', data: 'x'.repeat(5000) }));
    assert.throws(
      () => openSource(file, { maxArchiveBytes: 4096 }),
      /archives over 4096 bytes are not supported/,
    );
  });

  it('refuses a /lost+found that is not a directory', () => {
    assert.throws(
      () => stageTar(tar({ name: 'lost+found', data: 'x' })),
      /\/lost\+found must be a directory/,
    );
  });

  it('refuses sparse and unknown member types', () => {
    assert.throws(() => readTar(tar({ name: 's', type: 'S' }), 't'), /unsupported tar member type 'S'/);
  });
});

describe('hostile archives', () => {
  it('refuses absolute paths', () => {
    assert.throws(() => stageTar(tar({ name: '/etc/passwd', data: 'x' })), /absolute path/);
  });

  it("refuses '..' components", () => {
    assert.throws(() => stageTar(tar({ name: 'a/../../escape', data: 'x' })), /'\.\.' in the path/);
    assert.throws(
      () => stageTar(tar({ name: 'h', type: '1', linkName: '../outside' })),
      /'\.\.' in the path/,
    );
  });

  it('refuses to write through a symlink (symlink-then-write escape)', () => {
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    const archive = tar({ name: 'evil', type: '2', linkName: outside }, { name: 'evil/pwned', data: 'x' });
    assert.throws(() => stageTar(archive), /refusing to write through the symbolic link evil/);
    assert.equal(existsSync(join(outside, 'pwned')), false);
  });

  it('refuses a hard link to a file through a symlink', () => {
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'host secret');
    const archive = tar(
      { name: 'up', type: '2', linkName: dir },
      { name: 'h', type: '1', linkName: 'up/secret' },
    );
    assert.throws(() => stageTar(archive), /refusing to write through the symbolic link up/);
  });

  it('never deletes through a symlink when applying whiteouts', () => {
    const hostDir = join(dir, 'host-dir');
    mkdirSync(hostDir);
    writeFileSync(join(hostDir, 'victim'), 'keep me');
    const layout = join(dir, 'oci-evil');
    writeOciLayout(layout, [
      tar({ name: 'lnk', type: '2', linkName: hostDir }),
      tar({ name: 'lnk/.wh.victim' }, { name: 'lnk/.wh..wh..opq' }),
    ]);
    const root = join(dir, 'root-evil');
    mkdirSync(root);
    stageSource(openSource(layout), new Stager(root));
    assert.equal(readFileSync(join(hostDir, 'victim'), 'utf8'), 'keep me');
    assert.equal(readlinkSync(join(root, 'lnk')), hostDir);
  });

  it('refuses OCI blobs that do not match their digest, missing blobs and escaping docker layer paths', () => {
    const layout = join(dir, 'oci-tampered');
    writeOciLayout(layout, [tar({ name: 'a', data: 'a' })]);
    const blobs = join(layout, 'blobs', 'sha256');
    const layer = readdirSync(blobs).find((b) => readFileSync(join(blobs, b)).length > 1024) as string;
    writeFileSync(join(blobs, layer), tar({ name: 'a', data: 'evil' }));
    assert.throws(() => openSource(layout), /blob sha256:[0-9a-f]{64} does not match its digest/);
    rmSync(join(blobs, layer));
    assert.throws(() => openSource(layout), /blob sha256:[0-9a-f]{64} is missing/);

    const docker = join(dir, 'docker-evil.tar');
    writeFileSync(
      docker,
      tar({ name: 'manifest.json', data: JSON.stringify([{ Layers: ['../../etc/x.tar'] }]) }),
    );
    assert.throws(() => openSource(docker), /layer "\.\.\/\.\.\/etc\/x\.tar": '\.\.' in the path/);
  });

  it('keeps symlinks as links: their targets are never followed on the host', () => {
    const root = stageTar(
      tar({ name: 'abs', type: '2', linkName: '/etc/shadow' }, { name: 'abs', data: 'replaced' }),
    );
    assert.equal(lstatSync(join(root, 'abs')).isFile(), true);
    assert.equal(readFileSync(join(root, 'abs'), 'utf8'), 'replaced');
    const root2 = stageTar(tar({ name: 'rel', type: '2', linkName: '../../x' }));
    assert.equal(readlinkSync(join(root2, 'rel')), '../../x');
  });
});
