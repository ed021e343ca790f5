import assert from 'node:assert/strict';
import { readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { unlockLuks2 } from '../../src/common/blockdev/luks2.ts';
import { IntegrityError } from '../../src/common/blockdev/types.ts';
import { openVerity } from '../../src/common/blockdev/verity.ts';
import { writeLuks2File } from '../../src/image/luks2-format.ts';
import { formatVerityFile } from '../../src/image/verity-format.ts';
import { fileDevice, tempDir } from './helpers/files.ts';
import { requireTool, run } from './helpers/tools.ts';
import { readBlocks } from '../../src/common/blockdev/io.ts';

const dir = tempDir();
const EXT4_MAGIC_AT = 1024 + 0x38;

function ext4Magic(bytes: Uint8Array): number {
  return bytes[EXT4_MAGIC_AT] | (bytes[EXT4_MAGIC_AT + 1] << 8);
}

test('standard tools: mke2fs -> cryptsetup reencrypt --encrypt -> veritysetup format; the enclave stack opens it', (t) => {
  if (!requireTool(t, 'mke2fs') || !requireTool(t, 'cryptsetup') || !requireTool(t, 'veritysetup')) return;
  const img = join(dir, 'tools.img');
  writeFileSync(img, new Uint8Array(6 << 20));
  run('mke2fs', ['-q', '-t', 'ext4', '-b', '4096', '-F', img, '4M']); // 4 MiB file system, 2 MiB spare
  run(
    'cryptsetup',
    [
      'reencrypt',
      '--encrypt',
      '--type',
      'luks2',
      '-q',
      '--reduce-device-size',
      '2M',
      '--sector-size',
      '4096',
    ].concat(['--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--key-file', '-', img]),
    'secret',
  );
  const luksSize = statSync(img).size;
  truncateSync(img, luksSize + (1 << 20));
  const out = run('veritysetup', [
    'format',
    '--hash-offset',
    String(luksSize),
    '--data-blocks',
    String(luksSize / 4096),
    img,
    img,
  ]);
  const rootHash = /Root hash:\s+([0-9a-f]{64})/.exec(out)?.[1] ?? '';

  const verity = openVerity({
    data: fileDevice(img),
    rootHash,
    hashOffset: luksSize,
    expect: { dataBlocks: luksSize / 4096 },
  });
  const luks = unlockLuks2(verity, 'secret');
  assert.equal(ext4Magic(readBlocks(luks, 0, 1)), 0xef53);

  // The host flips one ciphertext bit in the file system's first block: an integrity error, not garbage.
  const bytes = readFileSync(img);
  bytes[luks.segment.offset + EXT4_MAGIC_AT] ^= 1;
  writeFileSync(img, bytes);
  const tampered = unlockLuks2(
    openVerity({ data: fileDevice(img), rootHash, hashOffset: luksSize }),
    'secret',
  );
  assert.throws(() => readBlocks(tampered, 0, 1), IntegrityError);
});

test("Cloister's writers: ext4 -> our LUKS2 -> our verity; cryptsetup and veritysetup accept the result", (t) => {
  if (!requireTool(t, 'mke2fs') || !requireTool(t, 'cryptsetup') || !requireTool(t, 'veritysetup')) return;
  const fs = join(dir, 'fs.img');
  const img = join(dir, 'ours-stack.img');
  writeFileSync(fs, new Uint8Array(2 << 20));
  run('mke2fs', ['-q', '-t', 'ext4', '-b', '4096', '-F', fs]);
  writeLuks2File(fs, img, { secret: 'secret', kdf: { type: 'pbkdf2' }, dataOffset: 1 << 20 });
  const luksSize = statSync(img).size;
  const tree = formatVerityFile(img);
  run('veritysetup', ['verify', '--hash-offset', String(luksSize), img, img, tree.rootHash]);
  run('cryptsetup', ['open', '--test-passphrase', '--key-file', '-', img], 'secret');

  const verity = openVerity({ data: fileDevice(img), rootHash: tree.rootHash, hashOffset: luksSize });
  const luks = unlockLuks2(verity, 'secret');
  assert.equal(luks.blockCount * 4096, 2 << 20); // the dynamic segment stops where verity's data stops
  assert.equal(ext4Magic(readBlocks(luks, 0, 1)), 0xef53);
});
