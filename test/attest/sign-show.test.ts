// `cloister sign --show` prints a SIGSTRUCT's fields after checking its signature; `--version`.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.ts';
import { VECTORS_DIR as sharedVectors } from '../attestation/helpers/vectors.ts';

const sig1 = join(sharedVectors, 'fortanix-rust-sgx/sig1.sigstruct.bin');
const dir = mkdtempSync(join(tmpdir(), 'cloister-sign-show-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('cloister sign --show', () => {
  it('prints the fields of the Fortanix vector, including its known MRENCLAVE and MRSIGNER', async () => {
    const r = await runCli(['sign', '--show', sig1]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^date\s+2016-01-09$/m);
    assert.match(r.stdout, /^mrenclave\s+c50673624a6cb17c1c6c2a4e6906f47a170c4629b8723781d1017ef376f1a75d$/m);
    assert.match(r.stdout, /^mrsigner\s+83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e$/m);
    assert.match(r.stdout, /^attributes\s+flags 0x0000000000000004 {2}xfrm 0x0000000000000003$/m);
    assert.match(r.stdout, /^miscmask\s+0xffffffff$/m);
    assert.match(r.stdout, /^debug enclave\s+no$/m);
  });

  it('refuses a SIGSTRUCT whose signed bytes were changed, and random bytes', async () => {
    const flipped = Buffer.from(readFileSync(sig1));
    flipped[960] ^= 1; // inside ENCLAVEHASH, a signed field
    writeFileSync(join(dir, 'flipped.sig'), flipped);
    const r = await runCli(['sign', '--show', join(dir, 'flipped.sig')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--show .*flipped\.sig: SIGSTRUCT signature does not verify/);
    assert.equal(r.stdout, '');

    writeFileSync(join(dir, 'short.sig'), flipped.subarray(0, 100));
    const short = await runCli(['sign', '--show', join(dir, 'short.sig')]);
    assert.equal(short.code, 2);
    assert.match(short.stderr, /SIGSTRUCT must be 1808 bytes, got 100/);
  });

  it('needs a program, --key and -o to sign, and no program with --show', async () => {
    assert.match((await runCli(['sign'])).stderr, /required option '--key <PEM>' not specified/);
    const noProgram = await runCli(['sign', '--key', join(dir, 'k.pem'), '-o', join(dir, 'o.sig')]);
    assert.equal(noProgram.code, 2);
    assert.match(noProgram.stderr, /missing required argument 'PROGRAM'/);
    const both = await runCli(['sign', 'app.wasm', '--show', sig1]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--show reads a SIGSTRUCT: give no PROGRAM with it/);
  });
});

describe('cloister --version', () => {
  it('prints the package version, the Node version and the backends', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0, r.stderr);
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    assert.match(r.stdout, new RegExp(`^cloister ${version.replaceAll('.', '\\.')}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^node ${process.versions.node.replaceAll('.', '\\.')}$`, 'm'));
    assert.match(r.stdout, /^backends:\n {2}sim: no hardware isolation, proves nothing/m);
    assert.match(r.stdout, /^ {2}tdx: an Intel TDX VM/m);
    assert.match(r.stdout, /^ {2}snp: an AMD SEV-SNP VM/m);
  });
});
