/** Two WireGuard devices wired back to back through a test-controlled "host" that carries datagrams. */
import { WireGuardDevice } from '../../../src/enclave/net/wireguard/device.ts';
import type { Endpoint, PeerConfig } from '../../../src/enclave/net/wireguard/device.ts';
import { generatePrivateKey, publicKey } from '../../../src/enclave/net/wireguard/crypto.ts';
import { parseCidr4 } from '../../../src/enclave/net/ipv4.ts';
import type { Cidr4 } from '../../../src/enclave/net/ipv4.ts';

export class ManualClock {
  ms = 10_000;
  wall = 1_700_000_000_000;
  nowMs = (): number => this.ms;
  wallMs = (): number => this.wall + this.ms;
}

export interface InFlight {
  datagram: Uint8Array;
  from: Endpoint;
  to: Endpoint;
}

export function cidr(text: string): Cidr4 {
  const c = parseCidr4(text);
  if (!c) throw new Error(`bad cidr ${text}`);
  return c;
}

export interface Side {
  device: WireGuardDevice;
  endpoint: Endpoint;
  delivered: Uint8Array[];
  privateKey: Uint8Array;
}

/** Alice (10.213.1.1) and Bob (10.213.1.2), each allowed only the other's tunnel address. */
export class WgPair {
  readonly clock = new ManualClock();
  /** Every datagram either side transmitted, in order: what the host saw. */
  readonly wire: InFlight[] = [];
  readonly alice: Side;
  readonly bob: Side;

  constructor(options: { psk?: Uint8Array; loadThreshold?: number; bobKnowsAlice?: boolean } = {}) {
    this.alice = this.#side({ address: '127.0.0.1', port: 40001 }, options.loadThreshold);
    this.bob = this.#side({ address: '127.0.0.1', port: 40002 }, options.loadThreshold);
    this.alice.device.addPeer(this.#peer(this.bob, '10.213.1.2/32', options.psk, true));
    if (options.bobKnowsAlice !== false)
      this.bob.device.addPeer(this.#peer(this.alice, '10.213.1.1/32', options.psk, false));
  }

  #side(endpoint: Endpoint, loadThreshold?: number): Side {
    const privateKey = generatePrivateKey();
    const delivered: Uint8Array[] = [];
    const device = new WireGuardDevice({
      privateKey,
      clock: this.clock,
      transmit: (datagram, to) => this.wire.push({ datagram, from: endpoint, to }),
      deliver: (packet) => delivered.push(packet),
      loadThreshold,
    });
    return { device, endpoint, delivered, privateKey };
  }

  #peer(other: Side, allowed: string, psk: Uint8Array | undefined, withEndpoint: boolean): PeerConfig {
    return {
      publicKey: publicKey(other.privateKey),
      presharedKey: psk,
      endpoint: withEndpoint ? other.endpoint : undefined,
      allowedIPs: [cidr(allowed)],
    };
  }

  /** Delivers queued datagrams to whichever side they are addressed to; `tamper` may change or drop them. */
  carry(tamper: (d: InFlight) => InFlight | undefined = (d) => d, maxRounds = 100): number {
    let carried = 0;
    for (let round = 0; round < maxRounds && this.wire.length > 0; round++) {
      for (const d of this.wire.splice(0)) {
        const t = tamper(d);
        if (!t) continue;
        carried++;
        const target = t.to.port === this.alice.endpoint.port ? this.alice : this.bob;
        target.device.receive(t.datagram, t.from);
      }
    }
    return carried;
  }

  advance(ms: number, step = 500): void {
    const end = this.clock.ms + ms;
    while (this.clock.ms < end) {
      this.clock.ms = Math.min(end, this.clock.ms + step);
      this.alice.device.tick();
      this.bob.device.tick();
      this.carry();
    }
  }
}
