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

describe('cloister run/measure --net and --tcplisten: what is measured', () => {
  const netDir = mkdtempSync(join(tmpdir(), 'cloister-net-measure-'));
  after(() => rmSync(netDir, { recursive: true, force: true }));
  const httpd = new URL('../../examples/net/httpd.wasm', import.meta.url).pathname;
  const peerKey = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
  const conf = (
    name: string,
    o: { key?: string; address?: string; psk?: string; hosts?: string[] } = {},
  ): string => {
    const path = join(netDir, name);
    writeFileSync(
      path,
      [
        '[Interface]',
        `PrivateKey = ${o.key ?? 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk='}`,
        `Address = ${o.address ?? '10.9.0.1/24'}`,
        '[Peer]',
        `PublicKey = ${peerKey}`,
        ...(o.psk ? [`PresharedKey = ${o.psk}`] : []),
        'AllowedIPs = 10.9.0.2/32',
        ...(o.hosts ? ['[Hosts]', ...o.hosts] : []),
        '',
      ].join('\n'),
    );
    return path;
  };
  const measure = async (...args: string[]): Promise<string> => {
    const r = await runCli(['measure', ...args, httpd]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
    return r.stdout;
  };

  it('the configuration is measured, the private key and the preshared key are not', async () => {
    const base = await measure('--net', conf('a.conf'), '--tcplisten', '0.0.0.0:8080');
    const otherKey = await measure(
      '--net',
      conf('b.conf', { key: 'CIlxgDaYrCCbrdP7tlqjZD1Rk+kYk0ik+o5HMJz3hV0=' }),
      '--tcplisten',
      '0.0.0.0:8080',
    );
    assert.equal(otherKey, base, 'the private key is a secret, not part of the identity');
    const psk1 = await measure(
      '--net',
      conf('p1.conf', { psk: 'CIlxgDaYrCCbrdP7tlqjZD1Rk+kYk0ik+o5HMJz3hV0=' }),
    );
    const psk2 = await measure(
      '--net',
      conf('p2.conf', { psk: 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=' }),
    );
    assert.equal(psk1, psk2, 'nor is a preshared key');
    assert.notEqual(psk1, await measure('--net', conf('a.conf')), 'having one is');
    assert.notEqual(
      await measure('--net', conf('c.conf', { address: '10.9.0.7/24' }), '--tcplisten', '0.0.0.0:8080'),
      base,
    );
    assert.notEqual(await measure('--net', conf('a.conf'), '--tcplisten', '0.0.0.0:8081'), base);
    assert.notEqual(
      await measure('--net', conf('g.conf', { key: 'generate' }), '--tcplisten', '0.0.0.0:8080'),
      base,
    );
    assert.notEqual(await measure(), base, 'a run without network differs');
    const hosts = await measure('--net', conf('h.conf', { hosts: ['db.internal = 10.9.0.2'] }));
    assert.notEqual(hosts, await measure('--net', conf('a.conf')), 'the [Hosts] table is measured');
    assert.notEqual(hosts, await measure('--net', conf('h2.conf', { hosts: ['db.internal = 10.9.0.3'] })));
  });

  it('a bad [Hosts] line is a usage error naming its line', async () => {
    const r = await runCli([
      'measure',
      '--net',
      conf('bad.conf', { hosts: ['db_internal = 10.9.0.2'] }),
      httpd,
    ]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /line 8: \[Hosts\]: "db_internal" is not a host name/);
  });

  it('the run file takes net and tcplisten as the command line does', async () => {
    const toml = join(netDir, 'run.toml');
    writeFileSync(toml, `net = "a.conf"\ntcplisten = ["0.0.0.0:8080"]\n`);
    conf('a.conf');
    assert.equal(
      await measure('--config', toml),
      await measure('--net', conf('a.conf'), '--tcplisten', '0.0.0.0:8080'),
    );
  });

  it('refuses --tcplisten without --net, bad listen addresses and bad configurations, naming them', async () => {
    const cases: [string[], RegExp][] = [
      [['--tcplisten', '0.0.0.0:8080'], /--tcplisten needs --net/],
      [
        ['--net', conf('a.conf'), '--tcplisten', 'localhost:8080'],
        /--tcplisten localhost:8080: expected ADDRESS:PORT/,
      ],
      [['--net', conf('a.conf'), '--tcplisten', '0.0.0.0:70000'], /expected ADDRESS:PORT/],
      [['--net', join(netDir, 'missing.conf')], /--net .*missing.conf/],
    ];
    const bad = join(netDir, 'bad.conf');
    writeFileSync(bad, '[Interface]\nPrivateKey = generate\nAddress = 10.0.0.1/24\nPostUp = rm -rf /\n');
    cases.push([['--net', bad], /--net .*bad.conf: line 4: .*PostUp/i]);
    for (const [args, message] of cases) {
      const r = await runCli(['run', ...args, httpd]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.code} ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
