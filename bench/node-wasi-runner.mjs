// The peer: runs a WASI command under Node's own node:wasi with plain host preopens.
// Usage: node bench/node-wasi-runner.mjs [--dir HOST::GUEST]... PROGRAM [ARGS...]
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { WASI } from 'node:wasi';

const argv = process.argv.slice(2);
const preopens = {};
while (argv[0] === '--dir') {
  const [host, guest] = argv[1].split('::');
  preopens[guest] = host;
  argv.splice(0, 2);
}
const [program, ...args] = argv;
const wasi = new WASI({
  version: 'preview1',
  args: [basename(program), ...args],
  env: {},
  preopens,
  returnOnExit: true,
});
const instance = new WebAssembly.Instance(
  new WebAssembly.Module(readFileSync(program)),
  wasi.getImportObject(),
);
process.exitCode = wasi.start(instance);
