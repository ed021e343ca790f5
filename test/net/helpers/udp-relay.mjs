// A UDP relay between the enclave's host socket and wireguard-go, run inside the test's namespace:
// it records every datagram that crosses it (what the host carried) as a line of JSON in a file.
//   node udp-relay.mjs ENCLAVE_FACING_PORT PEER_FACING_PORT ENCLAVE_HOST_PORT PEER_PORT RECORD_FILE
import { createSocket } from 'node:dgram';
import { appendFileSync } from 'node:fs';

const [enclaveFacing, peerFacing, enclavePort, peerPort] = process.argv.slice(2, 6).map(Number);
const record = process.argv[6];
const toEnclave = createSocket('udp4');
const toPeer = createSocket('udp4');
const log = (dir, msg) =>
  appendFileSync(record, `${JSON.stringify({ dir, data: msg.toString('base64') })}\n`);
toEnclave.on('message', (msg) => {
  log('out', msg);
  toPeer.send(msg, peerPort, '127.0.0.1');
});
toPeer.on('message', (msg) => {
  log('in', msg);
  toEnclave.send(msg, enclavePort, '127.0.0.1');
});
toEnclave.bind(enclaveFacing, '127.0.0.1', () =>
  toPeer.bind(peerFacing, '127.0.0.1', () => process.stdout.write('relay ready\n')),
);
process.on('SIGTERM', () => process.exit(0));
