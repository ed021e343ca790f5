// Building images from each kind of source, checked with the standard tools: veritysetup verify
// accepts our root hash, e2fsck -fn is clean, debugfs lists and reads the files; builds reproduce.
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  cpSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { buildImage, type BuildOptions, type BuildResult } from '../../src/image/build.ts';
import { Ext4Fs, ROOT_INO } from '../../src/common/ext4/index.ts';
import { FileBlockDevice } from '../../src/image/file-device.ts';
import { e2fsTool } from '../../src/image/mke2fs.ts';
import { ext2fsWasm } from '../../src/image/populate.ts';
import { run } from '../storage/helpers/tools.ts';
import { pattern } from '../storage/helpers/files.ts';
import { debugfs, debugfsCat, e2fsckClean, requireTools, tempDir } from './helpers/image.ts';
import { tar, writeOciLayout } from './helpers/tar.ts';

const dir = tempDir();
const TOOLS = ['mke2fs', 'debugfs', 'dumpe2fs', 'e2fsck', 'veritysetup'];
const big = pattern(200_000, 7);

function fixtureDir(name: string): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'data', 'deep'), { recursive: true });
  writeFileSync(join(root, 'hello.txt'), 'hello, enclave\n');
  writeFileSync(join(root, 'bin', 'tool'), '#!/bin/sh\n');
  chmodSync(join(root, 'bin', 'tool'), 0o755);
  writeFileSync(join(root, 'data', 'deep', 'big.bin'), big);
  symlinkSync('../hello.txt', join(root, 'data', 'link'));
  return root;
}

let outputs = 0;
function buildWith(from: string, extra: Partial<BuildOptions> = {}): BuildResult & { out: string } {
  const out = join(dir, `out-${outputs++}.img`);
  return { ...buildImage({ from, out, epoch: 1_700_000_000, ...extra }), out };
}

/** veritysetup verify with our root hash, and a clean e2fsck on the ext4 at the front. */
function checkWithTools(r: BuildResult & { out: string }): void {
  const d = r.descriptor;
  run('veritysetup', ['verify', r.out, r.out, d.rootHash, '--hash-offset', String(d.verity.hashOffset)]);
  assert.equal(readFileSync(r.out).length, d.size);
  assert.equal(d.verity.hashOffset, d.ext4.size);
  e2fsckClean(r.out);
}

// Both ext4 writers: e2fsprogs' mke2fs, and the enclave's libext2fs for machines without e2fsprogs.
for (const builder of ['mke2fs', 'libext2fs'] as const) {
  const tools = builder === 'mke2fs' ? TOOLS : ['debugfs', 'e2fsck', 'veritysetup'];
  const build = (from: string, extra: Partial<BuildOptions> = {}) =>
    buildWith(from, { ext4Builder: builder, ...extra });

  describe(`image build with ${builder}`, () => {
    it('from a directory: tools accept it, debugfs shows the files', (t) => {
      if (!requireTools(t, ...tools)) return;
      const r = build(fixtureDir(`tree-${builder}`));
      assert.equal(r.source, 'directory');
      checkWithTools(r);
      const root = debugfs(r.out, 'ls -l /');
      for (const name of ['hello.txt', 'bin', 'data', 'lost+found'])
        assert.match(root, new RegExp(` ${name.replace('+', '\\+')}\\n`));
      assert.equal(debugfsCat(r.out, '/hello.txt').toString(), 'hello, enclave\n');
      assert.ok(debugfsCat(r.out, '/data/deep/big.bin').equals(big));
      assert.match(debugfs(r.out, 'stat /bin/tool'), /Mode:\s+0755/);
      assert.match(debugfs(r.out, 'stat /data/link'), /Fast link dest: "\.\.\/hello\.txt"/);
      assert.match(debugfs(r.out, 'stat /hello.txt'), /User:\s+0\s+Group:\s+0/);
      assert.match(debugfs(r.out, 'stat /hello.txt'), /mtime: 0x6553f100/);
    });

    it('any legal file name builds: "error", "invalid", quotes, spaces, unicode, a newline', (t) => {
      if (!requireTools(t, ...tools)) return;
      const names = [
        'error',
        'invalid',
        'an error.log',
        'Invalid argument while reading',
        'sif: File not found by ext2_lookup',
        'say "hi"',
        'tab\there',
        'héllo wörld ✓',
        'line\nbreak',
        'debugfs: sif <12> mode 0777',
      ];
      const root = join(dir, `names-${builder}`);
      mkdirSync(join(root, 'error dir'), { recursive: true });
      for (const [i, name] of names.entries()) {
        writeFileSync(join(root, name), `file ${i}\n`);
        chmodSync(join(root, name), 0o600 + (i % 2) * 0o40);
      }
      writeFileSync(join(root, 'error dir', 'invalid "inner"'), 'inner\n');
      const r = build(root);
      checkWithTools(r);
      const listed = debugfs(r.out, 'ls -p /');
      for (const name of names.filter((n) => !n.includes('\n')))
        assert.ok(listed.includes(`/${name}/`), `debugfs lists ${JSON.stringify(name)}`);
      // Read back with the enclave's ext4 reader too (debugfs cannot name a file with a newline).
      const device = new FileBlockDevice(r.out);
      const fs = Ext4Fs.open(device, { wasm: ext2fsWasm(), readOnly: true });
      try {
        for (const [i, name] of names.entries()) {
          const ino = fs.lookupIn(ROOT_INO, name);
          assert.equal(new TextDecoder().decode(fs.readFile(ino)), `file ${i}\n`, JSON.stringify(name));
          const st = fs.stat(ino);
          assert.deepEqual([st.mode, st.uid, st.gid], [0o600 + (i % 2) * 0o40, 0, 0], JSON.stringify(name));
          assert.equal(st.mtimeNs, 1_700_000_000n * 1_000_000_000n);
        }
        const inner = fs.lookupIn(fs.lookupIn(ROOT_INO, 'error dir'), 'invalid "inner"');
        assert.equal(new TextDecoder().decode(fs.readFile(inner)), 'inner\n');
      } finally {
        fs.close();
        device.close();
      }
    });

    it('from a tar and a gzip tar: owners and modes kept, the same image either way', (t) => {
      if (!requireTools(t, ...tools)) return;
      const archive = tar(
        { name: 'app/' },
        { name: 'app/main.wasm', data: 'not really wasm', mode: 0o750, uid: 1000, gid: 100 },
        { name: 'app/alias', type: '1', linkName: 'app/main.wasm' },
        { name: 'etc/motd', data: 'hi\n' },
        { name: 'etc/we"ird name', data: 'q', uid: 70000, gid: 7, mode: 0o4711 },
      );
      writeFileSync(join(dir, `rootfs-${builder}.tar`), archive);
      writeFileSync(join(dir, `rootfs-${builder}.tar.gz`), gzipSync(archive));
      const plain = build(join(dir, `rootfs-${builder}.tar`));
      const gz = build(join(dir, `rootfs-${builder}.tar.gz`));
      assert.equal(plain.source, 'tar');
      checkWithTools(plain);
      assert.ok(readFileSync(plain.out).equals(readFileSync(gz.out)));
      const stat = debugfs(plain.out, 'stat /app/main.wasm');
      assert.match(stat, /Mode:\s+0750/);
      assert.match(stat, /User:\s+1000\s+Group:\s+100/);
      assert.match(stat, /Links: 2/);
      assert.equal(debugfsCat(plain.out, '/etc/motd').toString(), 'hi\n');
      assert.match(debugfs(plain.out, 'ls -l /etc'), /motd/);
      const weird = debugfs(plain.out, 'stat "/etc/we""ird name"');
      assert.match(weird, /Mode:\s+04711/);
      assert.match(weird, /User:\s+70000\s+Group:\s+7\b/);
    });

    it('from an OCI layout with two layers and whiteouts, as a directory, an archive and a docker save', (t) => {
      if (!requireTools(t, ...tools)) return;
      const lower = tar(
        { name: 'etc/' },
        { name: 'etc/a', data: 'a' },
        { name: 'etc/b', data: 'b' },
        { name: 'opt/x/' },
        { name: 'opt/x/1', data: '1' },
        { name: 'opt/x/2/' },
        { name: 'opt/x/2/deep', data: 'deep' },
        { name: 'keep/k', data: 'k' },
      );
      const upper = tar(
        { name: 'etc/.wh.a' },
        { name: 'opt/x/.wh..wh..opq' },
        { name: 'opt/x/3', data: 'three' },
        { name: 'etc/b', data: 'b, changed' },
      );
      const layout = join(dir, `oci-${builder}`);
      writeOciLayout(layout, [lower, upper]);
      const fromLayout = build(layout);
      assert.equal(fromLayout.source, 'oci');
      checkWithTools(fromLayout);
      assert.doesNotMatch(debugfs(fromLayout.out, 'ls /etc'), /\ba\b/);
      assert.equal(debugfsCat(fromLayout.out, '/etc/b').toString(), 'b, changed');
      const opt = debugfs(fromLayout.out, 'ls /opt/x');
      assert.match(opt, /\b3\b/);
      assert.doesNotMatch(opt, /\b1\b|\b2\b|\.wh\./);
      assert.equal(debugfsCat(fromLayout.out, '/keep/k').toString(), 'k');

      // The same layout as a tar archive, and the same layers as a `docker save` archive.
      const files = (root: string, names: string[]) =>
        names.map((name) => ({ name, data: readFileSync(join(root, name)) }));
      const blobs = readdirSync(join(layout, 'blobs', 'sha256'));
      const ociTar = join(dir, `oci-${builder}.tar`);
      writeFileSync(
        ociTar,
        tar(...files(layout, ['oci-layout', 'index.json', ...blobs.map((b) => `blobs/sha256/${b}`)])),
      );
      assert.ok(readFileSync(build(ociTar).out).equals(readFileSync(fromLayout.out)));
      const docker = join(dir, `docker-${builder}.tar`);
      const manifest = JSON.stringify([
        { Config: 'c.json', RepoTags: ['x:1'], Layers: ['l1/layer.tar', 'l2/layer.tar'] },
      ]);
      writeFileSync(
        docker,
        tar(
          { name: 'manifest.json', data: manifest },
          { name: 'l1/layer.tar', data: lower },
          { name: 'l2/layer.tar', data: upper },
        ),
      );
      const fromDocker = build(docker);
      assert.equal(fromDocker.source, 'docker-archive');
      assert.equal(fromDocker.descriptor.rootHash, fromLayout.descriptor.rootHash);
    });

    it("merges a source's /lost+found into the file system's own", (t) => {
      if (!requireTools(t, ...tools)) return;
      const src = join(dir, `lost-${builder}`);
      mkdirSync(join(src, 'lost+found'), { recursive: true });
      writeFileSync(join(src, 'lost+found', 'kept'), 'k');
      const r = build(src);
      checkWithTools(r);
      assert.equal(debugfsCat(r.out, '/lost+found/kept').toString(), 'k');
    });

    it('is reproducible: same input and epoch give the same bytes; file times on the host do not matter', (t) => {
      if (!requireTools(t, ...tools)) return;
      const a = build(fixtureDir(`repro-${builder}`));
      const copy = join(dir, `repro-copy-${builder}`);
      cpSync(join(dir, `repro-${builder}`), copy, { recursive: true, verbatimSymlinks: true });
      utimesSync(join(copy, 'hello.txt'), 12345, 12345);
      const b = build(copy);
      assert.ok(readFileSync(a.out).equals(readFileSync(b.out)));
      assert.deepEqual(a.descriptor, b.descriptor);
      const later = build(copy, { epoch: 1_700_000_001 });
      assert.notEqual(later.descriptor.rootHash, a.descriptor.rootHash);
    });

    it('takes an explicit --size, and refuses one the contents do not fit', (t) => {
      if (!requireTools(t, ...tools)) return;
      const r = build(fixtureDir(`sized-${builder}`), { size: 8 << 20 });
      assert.equal(r.descriptor.ext4.size, 8 << 20);
      checkWithTools(r);
      writeFileSync(join(dir, `sized-${builder}`, 'fill'), pattern(3 << 20, 3)); // zeros would become a hole
      assert.throws(() => build(join(dir, `sized-${builder}`), { size: 2 << 20 }), /do not fit in --size/);
    });
  });
}

describe('image build', () => {
  it('leaves an existing image alone when a build fails', (t) => {
    if (!requireTools(t, ...TOOLS)) return;
    const out = join(dir, 'keep.img');
    writeFileSync(out, 'old image');
    writeFileSync(join(dir, 'bad.tar'), tar({ name: '/abs', data: 'x' }));
    assert.throws(() => buildImage({ from: join(dir, 'bad.tar'), out }), /absolute path/);
    assert.equal(readFileSync(out, 'utf8'), 'old image');
    assert.equal(existsSync(`${out}.partial`), false);
  });

  it('names the package when an e2fsprogs tool is missing', () => {
    assert.throws(
      () => e2fsTool('mke2fs', ['-V'], {}, '/nonexistent'),
      /mke2fs not found: install e2fsprogs/,
    );
  });
});
