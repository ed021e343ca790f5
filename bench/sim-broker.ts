// For the key-broker benches: a sim platform of its own, an enclave identity and its quotes, and
// `cloister kbs serve` in its own process holding one 64-byte secret (`default/disk/app`, every byte
// 7) for that identity, trusted with --trust-sim-root.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SgxAttributeFlags } from '../src/attestation/report-body.ts';
import { KbsStore } from '../src/kbs/store.ts';
import { SimPlatform } from '../src/tee/sim/platform.ts';
import type { EnclaveIdentity } from '../src/tee/sim/platform.ts';
import type { Fetch } from '../src/enclave/kbs/client.ts';
import { SimQuotingEnclave } from '../src/tee/sim/quoting.ts';
import { listeningUrl } from '../test/helpers/listening.ts';

export const SECRET = new Uint8Array(64).fill(7);

export interface SimBroker {
  url: string;
  platform: SimPlatform;
  /** A sim quote of the enclave the broker's policy names, over this report data. */
  quoteFor(reportData: Uint8Array): Uint8Array;
  /** Stops the broker and removes its files. */
  stop(): Promise<void>;
}

export async function startSimBroker(name: string): Promise<SimBroker> {
  const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), `cloister-bench-${name}-`));
  const file = (f: string): string => join(dir, f);
  const platform = await SimPlatform.open({ path: file('sim-platform.json') });
  const qe = new SimQuotingEnclave(platform);
  const app: EnclaveIdentity = {
    mrenclave: new Uint8Array(32).fill(0x11),
    mrsigner: new Uint8Array(32).fill(0x22),
    isvprodid: 1,
    isvsvn: 1,
    attributes: { flags: SgxAttributeFlags.INIT | SgxAttributeFlags.MODE64BIT, xfrm: 3n },
    miscselect: 0,
  };
  writeFileSync(file('policy.json'), JSON.stringify({ mrenclave: ['11'.repeat(32)] }));
  const store = await KbsStore.open({ file: file('kbs.sqlite') });
  store.put('default/disk/app', SECRET);
  store.close();

  const server = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      main,
      'kbs',
      'serve',
      '--db',
      file('kbs.sqlite'),
      '--policy',
      file('policy.json'),
      '--trust-sim-root',
      '--port',
      '0',
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, CLOISTER_SIM_PLATFORM: file('sim-platform.json') },
    },
  );
  const stop = async (): Promise<void> => {
    if (server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const url = await listeningUrl(server, 60_000);
    return {
      url,
      platform,
      quoteFor: (reportData) => qe.quote(platform.ereport(app, qe.targetInfo(), reportData)),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * A fetch for the KBS client whose connections come from `127.0.0.N`. The broker holds at most 32
 * unauthenticated sessions per client address, so benches with more concurrent clients spread them
 * over loopback addresses, as that many machines would be.
 */
export function loopbackFetch(n: number): Fetch {
  const agent = new Agent({ keepAlive: true });
  return (url, init) =>
    new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: init.method ?? 'GET',
          headers: Object.fromEntries(new Headers(init.headers).entries()),
          localAddress: `127.0.0.${n}`,
          agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const headers = new Headers();
            for (const [k, v] of Object.entries(res.headers))
              for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) headers.append(k, one);
            resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0, headers }));
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(typeof init.body === 'string' ? init.body : undefined);
    });
}
