// The full path: `cloister run --net wg.conf --tcplisten 0.0.0.0:8080 examples/net/httpd.wasm` in a
// network namespace, and curl in a second one reaching it through wireguard-go and the kernel's
// routing. Bulk download (MiB/s wall, and MiB per CPU-second of the whole cloister process: enclave,
// host-call server and launcher threads) and the rate of sequential small requests (a TCP
// connection each: the server speaks HTTP/1.0). Then wireguard-go <-> wireguard-go per CPU-second
// for reference. Needs root and wireguard-go, wg, ip, curl, nc.
// Run: npm run build && node --import tsx bench/net-run.ts [MiB] [rounds]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { WireGuardGoPeer } from '../test/net/helpers/wg-peer.ts';
import { encodeKey, generatePrivateKey, publicKey } from '../src/enclave/net/wireguard/crypto.ts';
import { median, printTable } from './lib.ts';
import { pairUnavailable, wireguardGoPair } from './wireguard-go-pair.ts';

const MIB = Number(process.argv[2] ?? 32);
const ROUNDS = Number(process.argv[3] ?? 3);
const REQUESTS = 100;
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const httpd = fileURLToPath(new URL('../examples/net/httpd.wasm', import.meta.url));

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const skip = pairUnavailable();
if (skip) {
  process.stdout.write(`bench/net-run.ts: skipped (${skip})\n`);
  process.exit(0);
}
const outer = `clb${process.pid % 100000}o`;
const dir = mkdtempSync(join(tmpdir(), 'cloister-net-bench-'));
const peer = new WireGuardGoPeer();
const key = generatePrivateKey();
let server: ReturnType<typeof spawn> | undefined;
try {
  spawnSync('ip', ['netns', 'add', outer]);
  spawnSync('ip', ['-n', outer, 'link', 'set', 'lo', 'up']);
  await peer.start('10.213.81.2/24', 1420, outer);
  peer.setPeer({
    publicKey: encodeKey(publicKey(key)),
    endpoint: '127.0.0.1:40100',
    allowedIPs: '10.213.81.1/32',
  });
  const conf = join(dir, 'wg.conf');
  writeFileSync(
    conf,
    `[Interface]\nPrivateKey = ${encodeKey(key)}\nAddress = 10.213.81.1/24\nListenPort = 40100\n\n` +
      `[Peer]\nPublicKey = ${peer.publicKey}\nEndpoint = 127.0.0.1:${peer.listenPort}\nAllowedIPs = 10.213.81.2/32\n`,
    { mode: 0o600 },
  );
  server = spawn('ip', [
    'netns',
    'exec',
    outer,
    process.execPath,
    cli,
    'run',
    '--net',
    conf,
    '--tcplisten',
    '0.0.0.0:8080',
    httpd,
  ]);
  let out = '';
  server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 300 && !out.includes('serving'); i++) await sleep(100);
  if (!out.includes('serving')) throw new Error('the server did not start');
  const pid = server.pid!;
  const bulk: { wall: number; cpu: number }[] = [];
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const cpu0 = cpuSeconds(pid);
    const t0 = performance.now();
    const got = await peer.exec(
      'curl',
      ['-sS', '-o', '/dev/null', '-w', '%{size_download}', `http://10.213.81.1:8080/bytes/${MIB << 20}`],
      300_000,
    );
    const seconds = (performance.now() - t0) / 1000;
    if (got.code !== 0 || Number(got.stdout) !== MIB << 20)
      throw new Error(`download failed: ${got.stdout} ${got.stderr}`);
    bulk.push({ wall: MIB / seconds, cpu: MIB / (cpuSeconds(pid) - cpu0) });
    const t1 = performance.now();
    const many = await peer.exec(
      'curl',
      ['-sS', '-o', '/dev/null', `http://10.213.81.1:8080/r[1-${REQUESTS}]`],
      300_000,
    );
    if (many.code !== 0) throw new Error(`requests failed: ${many.stderr}`);
    rates.push(REQUESTS / ((performance.now() - t1) / 1000));
  }
  const pair = await wireguardGoPair(MIB, ROUNDS);
  const pairCpu = median(pair.map((p) => p.mibPerCpuSecond));
  const cpu = median(bulk.map((b) => b.cpu));
  printTable(
    `cloister run --net (httpd.wasm) <- curl through wireguard-go, ${MIB} MiB, median of ${ROUNDS}`,
    ['', 'MiB/s (wall)', 'MiB per CPU-second', 'ratio to wireguard-go per CPU-s'],
    [
      [
        'download from the enclave (cloister process: all threads)',
        median(bulk.map((b) => b.wall)),
        cpu,
        cpu / pairCpu,
      ],
      ['wireguard-go <-> wireguard-go, kernel TCP', median(pair.map((p) => p.mibPerSecond)), pairCpu, 1],
    ],
  );
  printTable(
    `Sequential HTTP/1.0 requests (a connection each), ${REQUESTS} per round`,
    ['', 'requests/s'],
    [['curl -> httpd.wasm in the enclave', median(rates)]],
  );
} finally {
  server?.kill('SIGKILL');
  peer.stop();
  spawnSync('ip', ['netns', 'del', outer]);
  rmSync(dir, { recursive: true, force: true });
}
