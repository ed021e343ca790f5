// wireguard-go <-> wireguard-go on this machine, as the reference point: two network
// namespaces joined by a veth pair, a wireguard-go in each, and `nc` pushing N MiB of zeros through
// the tunnel with the kernel's TCP. Reports MiB/s of payload and MiB per CPU-second of the two
// wireguard-go processes together (both ends, as the TypeScript rows do both ends on one core).
// Needs root, wireguard-go, wg (wireguard-tools), ip (iproute2) and nc (netcat-openbsd).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const CLK_TCK = 100;

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 20_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.status}`);
  return r.stdout;
}

/** Why the pair cannot run here, or undefined. */
export function pairUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const tool of ['wireguard-go', 'wg', 'ip', 'nc'])
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  return undefined;
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

export interface PairResult {
  mibPerSecond: number;
  mibPerCpuSecond: number;
}

/** Sets the pair up, runs `rounds` transfers of `mib` MiB, tears everything down (also on failure). */
export async function wireguardGoPair(mib: number, rounds: number): Promise<PairResult[]> {
  const tag = `${process.pid % 100000}`;
  const ns = [`wgb${tag}a`, `wgb${tag}b`];
  const keyDir = mkdtempSync(join(tmpdir(), 'cloister-wgbench-'));
  const daemons: ChildProcess[] = [];
  try {
    const keys = ns.map(() => run('wg', ['genkey']).trim());
    const pubs = keys.map((k) => run('wg', ['pubkey'], `${k}\n`).trim());
    for (const n of ns) run('ip', ['netns', 'add', n]);
    run('ip', [
      'link',
      'add',
      `${ns[0]}v`,
      'netns',
      ns[0]!,
      'type',
      'veth',
      'peer',
      `${ns[1]}v`,
      'netns',
      ns[1]!,
    ]);
    for (const [i, n] of ns.entries()) {
      run('ip', ['-n', n, 'link', 'set', 'lo', 'up']);
      run('ip', ['-n', n, 'addr', 'add', `10.231.0.${i + 1}/24`, 'dev', `${n}v`]);
      run('ip', ['-n', n, 'link', 'set', `${n}v`, 'up']);
      const daemon = spawn('ip', ['netns', 'exec', n, 'wireguard-go', `${n}w`], {
        env: { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' },
        stdio: 'ignore',
      });
      daemons.push(daemon);
      const sock = `/var/run/wireguard/${n}w.sock`;
      for (let t = 0; t < 100 && !existsSync(sock); t++) await sleep(50);
      const keyFile = join(keyDir, n);
      writeFileSync(keyFile, `${keys[i]}\n`, { mode: 0o600 });
      run('ip', [
        'netns',
        'exec',
        n,
        'wg',
        'set',
        `${n}w`,
        'private-key',
        keyFile,
        'listen-port',
        String(51820 + i),
      ]);
      run('ip', ['-n', n, 'addr', 'add', `10.232.0.${i + 1}/24`, 'dev', `${n}w`]);
      run('ip', ['-n', n, 'link', 'set', `${n}w`, 'mtu', '1420', 'up']);
    }
    for (const [i, n] of ns.entries()) {
      const other = 1 - i;
      run('ip', [
        'netns',
        'exec',
        n,
        'wg',
        'set',
        `${n}w`,
        'peer',
        pubs[other]!,
        'allowed-ips',
        `10.232.0.${other + 1}/32`,
        'endpoint',
        `10.231.0.${other + 1}:${51820 + other}`,
      ]);
    }
    // wireguard-go re-executes itself in the foreground mode: the process to account is the daemon's child or itself.
    const pids = ns.map((n) => Number(run('sh', ['-c', `pgrep -f 'wireguard-go ${n}w$' | tail -1`]).trim()));
    const results: PairResult[] = [];
    for (let r = 0; r < rounds; r++) {
      const port = 5001 + r;
      const sink = spawn('ip', ['netns', 'exec', ns[1]!, 'nc', '-l', '-N', '10.232.0.2', String(port)], {
        stdio: ['ignore', 'ignore', 'ignore'],
      });
      await sleep(300);
      const cpu0 = pids.reduce((s, p) => s + cpuSeconds(p), 0);
      const t0 = performance.now();
      run('ip', [
        'netns',
        'exec',
        ns[0]!,
        'sh',
        '-c',
        `head -c ${mib}M /dev/zero | nc -N 10.232.0.2 ${port}`,
      ]);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = pids.reduce((s, p) => s + cpuSeconds(p), 0) - cpu0;
      sink.kill();
      results.push({ mibPerSecond: mib / seconds, mibPerCpuSecond: mib / Math.max(cpu, 1 / CLK_TCK) });
    }
    return results;
  } finally {
    for (const d of daemons) d.kill('SIGTERM');
    for (const n of ns) spawnSync('ip', ['netns', 'del', n]);
    for (const n of ns) rmSync(`/var/run/wireguard/${n}w.sock`, { force: true });
    rmSync(keyDir, { recursive: true, force: true });
  }
}
