/**
 * wireguard-go as the real peer, in a network namespace the test creates. wireguard-go is started
 * in the test's namespace and its TUN interface is then moved into the new namespace: the UDP socket
 * stays where it was born and talks to the test over loopback, while the tunnel address, routes and
 * every program using the tunnel (ping, curl, nc) live only inside the namespace.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findTool } from '../../ext4/helpers/tools.ts';

const TOOLS = ['wireguard-go', 'wg', 'ip', 'ping', 'curl', 'nc'];

/** Undefined when the interop tests can run, else why not; in CI a missing tool is an error. */
export function interopUnavailable(): string | undefined {
  const missing = TOOLS.filter((t) => !findTool(t));
  const reasons = [
    ...(missing.length
      ? [
          `${missing.join(', ')} not installed (apt-get install -y wireguard-go wireguard-tools iproute2 iputils-ping curl netcat-openbsd)`,
        ]
      : []),
    ...(process.getuid?.() !== 0 ? ['network namespaces need root'] : []),
  ];
  if (reasons.length === 0) return undefined;
  if (process.env.CI) throw new Error(`WireGuard interop test cannot run: ${reasons.join('; ')}`);
  return reasons.join('; ');
}

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 10_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

let counter = 0;

export interface PeerSetting {
  publicKey: string;
  endpoint?: string;
  allowedIPs: string;
  presharedKey?: string;
  persistentKeepalive?: number;
}

export class WireGuardGoPeer {
  /** The namespace's and the interface's name (15 characters at most). */
  readonly name = `clwg${process.pid % 100000}x${counter++}`;
  readonly privateKey = run('wg', ['genkey']).trim();
  readonly publicKey = run('wg', ['pubkey'], `${this.privateKey}\n`).trim();
  listenPort = 0;
  #process: ChildProcess | undefined;
  #netns = false;
  /** Key files for `wg set` (it reads keys only from files); removed by stop(). */
  readonly #keyDir = mkdtempSync(join(tmpdir(), 'cloister-wg-'));

  #keyFile(name: string, key: string): string {
    const path = join(this.#keyDir, name);
    writeFileSync(path, `${key}\n`, { mode: 0o600 });
    return path;
  }

  /**
   * Brings the peer up with `address` (CIDR) on its tunnel interface. With `outer` (a namespace of
   * the test's), wireguard-go and its UDP socket live there instead of in the test's namespace.
   */
  async start(address: string, mtu = 1420, outer?: string): Promise<void> {
    run('ip', ['netns', 'add', this.name]);
    this.#netns = true;
    const command = outer ? ['ip', 'netns', 'exec', outer, 'wireguard-go'] : ['wireguard-go'];
    this.#process = spawn(command[0]!, [...command.slice(1), this.name], {
      env: { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' },
      stdio: 'ignore',
    });
    const sock = `/var/run/wireguard/${this.name}.sock`;
    for (let i = 0; i < 100 && !existsSync(sock); i++) await sleep(50);
    if (!existsSync(sock)) throw new Error('wireguard-go did not start');
    run('wg', [
      'set',
      this.name,
      'private-key',
      this.#keyFile('private', this.privateKey),
      'listen-port',
      '0',
    ]);
    this.listenPort = Number(run('wg', ['show', this.name, 'listen-port']).trim());
    run('ip', [...(outer ? ['-n', outer] : []), 'link', 'set', this.name, 'netns', this.name]);
    this.#ip(['link', 'set', 'lo', 'up']);
    this.#ip(['addr', 'add', address, 'dev', this.name]);
    this.#ip(['link', 'set', this.name, 'mtu', String(mtu), 'up']);
  }

  /** Moves wireguard-go's UDP socket to a new random port (the peer roams); returns it. */
  changePort(): number {
    const old = this.listenPort;
    for (let i = 0; i < 5 && this.listenPort === old; i++) {
      run('wg', ['set', this.name, 'listen-port', '0']);
      this.listenPort = Number(run('wg', ['show', this.name, 'listen-port']).trim());
    }
    return this.listenPort;
  }

  setPeer(p: PeerSetting): void {
    const args = ['set', this.name, 'peer', p.publicKey, 'allowed-ips', p.allowedIPs];
    if (p.endpoint) args.push('endpoint', p.endpoint);
    if (p.persistentKeepalive) args.push('persistent-keepalive', String(p.persistentKeepalive));
    if (p.presharedKey) args.push('preshared-key', this.#keyFile('psk', p.presharedKey));
    run('wg', args);
  }

  removePeer(publicKey: string): void {
    run('wg', ['set', this.name, 'peer', publicKey, 'remove']);
  }

  /** `wg show NAME dump` peer lines: public key, psk, endpoint, allowed ips, handshake, rx, tx, keepalive. */
  peerDump(): string[][] {
    return run('wg', ['show', this.name, 'dump'])
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split('\t'));
  }

  /** Runs a program inside the namespace without blocking the test's event loop. */
  exec(
    cmd: string,
    args: string[],
    timeoutMs: number,
    input?: string,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], { timeout: timeoutMs });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      if (input !== undefined) child.stdin.end(input);
      else child.stdin.end();
    });
  }

  /** Stops wireguard-go and removes the namespace (and with it the interface). Safe to call twice. */
  stop(): void {
    this.#process?.kill('SIGTERM');
    this.#process = undefined;
    if (this.#netns) spawnSync('ip', ['netns', 'del', this.name]);
    this.#netns = false;
    rmSync(`/var/run/wireguard/${this.name}.sock`, { force: true });
    rmSync(this.#keyDir, { recursive: true, force: true });
  }

  #ip(args: string[]): void {
    run('ip', ['-n', this.name, ...args]);
  }
}
