// The README's walkthrough runs exactly as written (only its port and scratch folder are this
// test's), so the commands a new user pastes cannot drift from the code.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

const root = fileURLToPath(new URL('../../', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'cloister-readme-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The shell block that follows the walkthrough marker. */
function walkthrough(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const marker = readme.indexOf('<!-- walkthrough:');
  assert.ok(marker >= 0, 'README has the walkthrough marker');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(marker));
  assert.ok(block, 'a sh block follows the marker');
  return block[1];
}

/** Processes still running with this test's scratch folder in their command line. */
function leftovers(): string[] {
  const found = spawnSync('pgrep', ['-f', scratch], { encoding: 'utf8' }).stdout.trim();
  const pids = found === '' ? [] : found.split('\n');
  for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
  return pids;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

describe('README walkthrough', () => {
  it(
    'builds, measures, writes the policy, stores the key, serves it and runs the app',
    { timeout: 180_000 },
    async () => {
      const script = walkthrough();
      const port = await freePort();
      const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
        (resolve, reject) => {
          // -m: job control, as in the interactive shell the walkthrough is pasted into (kill %1 stops
          // the whole background job, npx and the server under it).
          const child = spawn('bash', ['-m', '-euo', 'pipefail', '-c', script], {
            cwd: root,
            env: {
              ...process.env,
              PORT: String(port),
              TMPDIR: scratch,
              CLOISTER_SIM_PLATFORM: join(scratch, 'sim-platform.json'),
            },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let stdout = '';
          let stderr = '';
          const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
          child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          child.on('error', reject);
          child.on('close', (code) => {
            clearTimeout(timer);
            resolve({ code, stdout, stderr });
          });
        },
      );
      assert.deepEqual(leftovers(), [], 'the walkthrough stops what it started');
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^hello from the enclave$/m);
      assert.match(result.stderr, /release default\/disk\/app to session \S+ mrenclave=[0-9a-f]{64}/);
      assert.match(result.stderr, /NO hardware isolation/);
    },
  );
});
