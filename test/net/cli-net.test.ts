import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { findTool } from '../ext4/helpers/tools.ts';

const dir = mkdtempSync(join(tmpdir(), 'cloister-net-cli-'));

describe('cloister net', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keygen prints a fresh key; pubkey derives its public key (the same as wg pubkey)', async () => {
    const a = await runCli(['net', 'keygen']);
    const b = await runCli(['net', 'keygen']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^[A-Za-z0-9+/]{43}=\n$/);
    assert.notEqual(a.stdout, b.stdout);
    const pub = await runCli(['net', 'pubkey'], { input: a.stdout });
    assert.equal(pub.code, 0, pub.stderr);
    assert.match(pub.stdout, /^[A-Za-z0-9+/]{43}=\n$/);
    if (findTool('wg')) {
      const wg = spawnSync('wg', ['pubkey'], { input: a.stdout, encoding: 'utf8' });
      assert.equal(pub.stdout, wg.stdout, 'agrees with wireguard-tools');
    } else if (process.env.CI) {
      assert.fail('wg (wireguard-tools) is not installed');
    }
  });

  it('pubkey refuses input that is not a key', async () => {
    const r = await runCli(['net', 'pubkey'], { input: 'not a key\n' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not a WireGuard private key/);
    assert.equal(r.stdout, '');
  });

  it('check summarises a configuration and names the line of an error', async () => {
    const key = (await runCli(['net', 'keygen'])).stdout.trim();
    const peer = (
      await runCli(['net', 'pubkey'], { input: (await runCli(['net', 'keygen'])).stdout })
    ).stdout.trim();
    const good = join(dir, 'wg.conf');
    writeFileSync(
      good,
      `[Interface]\nPrivateKey = ${key}\nAddress = 10.213.9.1/24\n\n[Peer]\nPublicKey = ${peer}\nAllowedIPs = 10.213.9.2/32\n`,
    );
    const ok = await runCli(['net', 'check', good]);
    assert.equal(ok.code, 0, ok.stderr);
    const mine = (await runCli(['net', 'pubkey'], { input: key })).stdout.trim();
    assert.match(ok.stdout, new RegExp(`public key ${mine.replace(/[+/]/g, '\\$&')}`));
    assert.match(ok.stdout, /address: 10\.213\.9\.1\/24/);
    assert.match(ok.stdout, /allowed ips: 10\.213\.9\.2\/32/);

    const bad = join(dir, 'bad.conf');
    writeFileSync(bad, `[Interface]\nPrivateKey = ${key}\nAddress = 10.213.9.1/24\nPostUp = rm -rf /\n`);
    const r = await runCli(['net', 'check', bad]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.conf: line 4: PostUp is not supported/);
    const missing = await runCli(['net', 'check', join(dir, 'nope.conf')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.conf/);
  });
});
