// Encrypted images: ext4 inside LUKS2, dm-verity over the ciphertext. cryptsetup accepts the LUKS2
// part (the verity data area), veritysetup the whole; our readers decrypt an e2fsck-clean ext4.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { unlockLuks2, WrongKeyError } from '../../src/common/blockdev/luks2.ts';
import { openVerity } from '../../src/common/blockdev/verity.ts';
import { buildImage } from '../../src/image/build.ts';
import { FileBlockDevice } from '../../src/image/file-device.ts';
import { run, tryRun } from '../storage/helpers/tools.ts';
import { debugfs, debugfsCat, e2fsckClean, requireTools, tempDir } from './helpers/image.ts';
import { readBlocks } from '../../src/common/blockdev/io.ts';

const dir = tempDir();
const key = Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff);

describe('encrypted image build', () => {
  it('passes veritysetup, cryptsetup and e2fsck, and decrypts to the files', (t) => {
    if (!requireTools(t, 'mke2fs', 'debugfs', 'dumpe2fs', 'e2fsck', 'veritysetup', 'cryptsetup')) return;
    const src = join(dir, 'src');
    mkdirSync(join(src, 'db'), { recursive: true });
    writeFileSync(join(src, 'db', 'secret.txt'), 'the plaintext\n');
    const keyFile = join(dir, 'disk.key');
    writeFileSync(keyFile, key);
    const out = join(dir, 'enc.img');
    const { descriptor: d } = buildImage({
      from: src,
      out,
      encrypt: { secret: key, kdf: { type: 'pbkdf2', iterations: 1000 } },
    });
    assert.ok(d.luks2);
    assert.equal(d.ext4.offset, d.luks2.dataOffset);
    assert.equal(d.ext4.uuid, null);
    assert.equal(d.verity.hashOffset, d.luks2.dataOffset + d.ext4.size);
    run('veritysetup', ['verify', out, out, d.rootHash, '--hash-offset', String(d.verity.hashOffset)]);

    // The LUKS2 container is the verity data area: what `veritysetup open` would expose.
    const luks = join(dir, 'luks.img');
    copyFileSync(out, luks);
    truncateSync(luks, d.verity.hashOffset);
    const dump = run('cryptsetup', ['luksDump', luks]);
    assert.match(dump, new RegExp(`UUID:\\s+${d.luks2.uuid}`));
    assert.match(dump, /sector: 4096 \[bytes\]/);
    run('cryptsetup', ['open', '--test-passphrase', '--key-file', keyFile, luks]);
    assert.notEqual(
      tryRun('cryptsetup', ['open', '--test-passphrase', '--key-file', '-', luks], 'wrong').status,
      0,
    );

    // The enclave's path: verity over the file, LUKS2 over verity; the plaintext ext4 is clean.
    const file = new FileBlockDevice(out);
    try {
      const verity = openVerity({
        data: file,
        rootHash: d.rootHash,
        hashOffset: d.verity.hashOffset,
        expect: { dataBlocks: d.verity.dataBlocks },
      });
      assert.throws(() => unlockLuks2(verity, 'wrong'), WrongKeyError);
      const dev = unlockLuks2(verity, key, { expectedUuid: d.luks2.uuid });
      const plain = join(dir, 'plain.ext4');
      writeFileSync(plain, readBlocks(dev, 0, d.ext4.size / dev.blockSize));
      e2fsckClean(plain);
      assert.match(debugfs(plain, 'ls -l /db'), /secret\.txt/);
      assert.equal(debugfsCat(plain, '/db/secret.txt').toString(), 'the plaintext\n');
    } finally {
      file.close();
    }
  });
});
