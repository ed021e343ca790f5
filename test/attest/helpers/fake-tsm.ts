// A fake confidential VM's kernel for the tdx/snp backends: a temporary tree shaped like
// /sys/kernel/config/tsm/report/<entry>/ and /sys/devices/virtual/misc/tdx_guest/measurements/, and
// the file operations that behave as those attributes do. mkdir makes an entry with `provider` and
// `generation`; each inblob write bumps `generation` and "generates" `outblob` from the inblob;
// writing 48 bytes to `rtmrN:sha384` extends it (SHA-384(old ‖ data)).
import { mkdirSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { rtmrExtend } from '../../../src/attestation/cvm-binding.ts';
import { nodeTsmFs } from '../../../src/tee/tsm.ts';
import type { TsmFs } from '../../../src/tee/tsm.ts';
import { tempDir } from '../../helpers/temp.ts';

export interface FakeVm {
  /** The configfs mount point (holds tsm/report/). */
  tsmRoot: string;
  /** The tdx_guest measurements directory. */
  measurementsDir: string;
  fs: TsmFs;
  /** Bumps of `generation` by "another process", one per outblob read, while positive. */
  intruders: number;
  /** When true, RTMR writes are ignored (a kernel or file that does not extend). */
  ignoreRtmrWrites: boolean;
  /** Report data written to inblob, in order. */
  inblobs: Uint8Array[];
}

export function fakeVm(
  provider: string,
  generate: (inblob: Uint8Array) => Uint8Array | Promise<Uint8Array>,
  auxblob?: Uint8Array,
): FakeVm {
  const root = tempDir('cloister-fake-vm-');
  const tsmRoot = join(root, 'config');
  const measurementsDir = join(root, 'measurements');
  mkdirSync(join(tsmRoot, 'tsm', 'report'), { recursive: true });
  mkdirSync(measurementsDir);
  for (const i of [0, 1, 2, 3]) writeFileSync(join(measurementsDir, `rtmr${i}:sha384`), new Uint8Array(48));
  const generation = (dir: string): number => Number(readFileSync(join(dir, 'generation'), 'utf8'));
  const bump = (dir: string): void => writeFileSync(join(dir, 'generation'), `${generation(dir) + 1}\n`);
  const vm: FakeVm = {
    tsmRoot,
    measurementsDir,
    intruders: 0,
    ignoreRtmrWrites: false,
    inblobs: [],
    fs: {
      ...nodeTsmFs,
      async mkdir(path) {
        await nodeTsmFs.mkdir(path);
        writeFileSync(join(path, 'provider'), `${provider}\n`);
        writeFileSync(join(path, 'generation'), '0\n');
      },
      async rmdir(path) {
        // configfs removes an entry with its attribute files.
        for (const f of readdirSync(path)) unlinkSync(join(path, f));
        await nodeTsmFs.rmdir(path);
      },
      async writeFile(path, data) {
        if (/^rtmr\d:sha384$/.test(basename(path))) {
          if (data.length !== 48) throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
          if (!vm.ignoreRtmrWrites) writeFileSync(path, rtmrExtend(readFileSync(path), data));
          return;
        }
        await nodeTsmFs.writeFile(path, data);
        if (basename(path) === 'inblob') {
          vm.inblobs.push(Uint8Array.from(data));
          bump(dirname(path));
          writeFileSync(join(dirname(path), 'outblob'), await generate(Uint8Array.from(data)));
          if (auxblob) writeFileSync(join(dirname(path), 'auxblob'), auxblob);
        }
      },
      async readFile(path) {
        if (basename(path) === 'outblob' && vm.intruders > 0) {
          vm.intruders--;
          bump(dirname(path));
        }
        return nodeTsmFs.readFile(path);
      },
    },
  };
  return vm;
}
