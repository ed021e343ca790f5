/**
 * A host that breaks the datagram calls themselves (CLOISTER_HOST_FAULT=<call>:<fault>, the host
 * side's own fault injection): a forbidden errno or an oversized reply to `net_recv_batch` or
 * `net_send_batch` is refused and counted by the enclave, which goes on serving (and waits rather
 * than spinning); a reply to another request stops the enclave with the reason. Never a crash, never
 * a hang. The same for a threaded server, whose kernel owns the network and pumps it while its
 * threads wait. The runs live in a network namespace this test makes (the host socket binds there).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { cliPath, tempDir } from '../helpers/cli.ts';
import { assemble } from '../threads/programs.ts';
import { threadedServerWat } from './helpers/net-programs.ts';
import { interopUnavailable } from './helpers/wg-peer.ts';
import { encodeKey, generatePrivateKey, publicKey } from '../../src/enclave/net/wireguard/crypto.ts';

const skip = interopUnavailable();
const httpd = fileURLToPath(new URL('../../examples/net/httpd.wasm', import.meta.url));
const dir = tempDir('cloister-net-faults-');
const RUN_MS = 4_000;
const LIMIT_MS = 30_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Still running RUN_MS after it said it serves (then stopped by the test). */
  alive: boolean;
}

describe('a host that breaks the datagram calls', { skip }, () => {
  const ns = `clo${process.pid % 100000}f`;
  const conf = join(dir, 'wg.conf');

  before(() => {
    spawnSync('ip', ['netns', 'del', ns]);
    assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
    assert.equal(spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']).status, 0);
    // A peer that never answers; the keepalive makes the enclave send (a handshake initiation) every second.
    writeFileSync(
      conf,
      [
        '[Interface]',
        `PrivateKey = ${encodeKey(generatePrivateKey())}`,
        'Address = 10.213.80.1/24',
        '[Peer]',
        `PublicKey = ${encodeKey(publicKey(generatePrivateKey()))}`,
        'Endpoint = 127.0.0.1:9',
        'AllowedIPs = 10.213.80.2/32',
        'PersistentKeepalive = 1',
        '',
      ].join('\n'),
    );
  });

  after(() => {
    spawnSync('ip', ['netns', 'del', ns]);
  });

  function runFaulted(fault: string, program: string): Promise<Run> {
    return new Promise((resolve) => {
      const child = spawn(
        'ip',
        [
          'netns',
          'exec',
          ns,
          process.execPath,
          cliPath,
          'run',
          '--net',
          conf,
          '--tcplisten',
          '0.0.0.0:8080',
          program,
        ],
        { env: { ...process.env, CLOISTER_HOST_FAULT: fault } },
      );
      let stdout = '';
      let stderr = '';
      let alive = false;
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      // The window starts when the server is up, not at spawn: start-up time varies with load.
      let check: NodeJS.Timeout | undefined;
      child.stdout.on('data', () => {
        if (check !== undefined || !stdout.includes('serving')) return;
        check = setTimeout(() => {
          alive = child.exitCode === null;
          child.kill('SIGTERM');
        }, RUN_MS);
      });
      const limit = setTimeout(() => child.kill('SIGKILL'), LIMIT_MS);
      child.on('close', (code) => {
        clearTimeout(check);
        clearTimeout(limit);
        resolve({ code, stdout, stderr, alive });
      });
    });
  }

  const programs = [
    { name: 'httpd', path: async () => httpd, says: 'httpd: serving on descriptor 3\n' },
    {
      name: 'a threaded server',
      path: () => assemble(dir, 'threaded-server', threadedServerWat(2)),
      says: 'threaded-server: serving\n',
    },
  ];
  for (const program of programs) {
    for (const call of ['net_recv_batch', 'net_send_batch']) {
      for (const fault of ['errno', 'length']) {
        it(`${program.name}: ${call}:${fault} is refused; the server keeps running`, async () => {
          const r = await runFaulted(`${call}:${fault}`, await program.path());
          assert.ok(r.alive, `the enclave ended: ${r.code}\n${r.stderr}`);
          assert.equal(r.stdout, program.says);
          assert.doesNotMatch(r.stderr, /TypeError|RangeError|at .*\.js:\d+/);
        });
      }
      it(`${program.name}: ${call}:wrong-request stops the enclave with the reason`, async () => {
        const r = await runFaulted(`${call}:wrong-request`, await program.path());
        assert.ok(!r.alive, 'the enclave must stop');
        assert.notEqual(r.code, 0);
        assert.match(
          r.stderr,
          new RegExp(`enclave stopped: host answered request \\d+ in the slot of request \\d+ \\(${call}\\)`),
        );
      });
    }
  }
});
