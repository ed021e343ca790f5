/**
 * The options of the commands that describe a run (`run`, `measure`, `sign`, `quote`), and the
 * parsing of options placed between a disk image and `--`.
 */
import { Command, Option } from 'commander';
import { looksLikeImage } from './disk-detect.ts';
import { DEFAULT_MEMORY_MIB, DEFAULT_THREADS } from '../interface/run-config.ts';
import { UsageError } from './run-options.ts';
import { BACKEND_NAMES, backendSummary } from '../tee/backends.ts';

/** Commander's accumulator for repeatable options. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Everything that goes into the measurement: `sign` and `quote` take these. */
export function addMeasuredOptions(command: Command): Command {
  return command
    .option('--dir <HOST::GUEST>', 'mount a host directory (untrusted storage) at GUEST; repeatable', collect)
    .option('--tmpfs <GUEST>', 'mount an empty in-enclave file system at GUEST; repeatable', collect)
    .option(
      '--env <NAME[=VALUE]>',
      'set an environment variable (NAME alone passes the host value); repeatable',
      collect,
    )
    .option('--memory <SIZE>', `enclave memory limit, e.g. 256M or 1G (default ${DEFAULT_MEMORY_MIB}M)`)
    .option(
      '--threads <N>',
      `most threads of a wasi-threads program alive at once, main included (default ${DEFAULT_THREADS})`,
    )
    .option(
      '--config <FILE>',
      'JSON file with the same options: {"dir":[],"tmpfs":[],"env":{},"memory":"256M"}',
    )
    .option('--root-hash <HEX>', 'dm-verity root hash of the image (default: from IMG.json)')
    .option('--hash-offset <BYTES>', 'where the verity superblock starts in the image (tree appended)')
    .option('--hash-file <FILE>', 'the verity hash tree, when it is a separate file')
    .option('--overlay', 'a writable in-enclave tmpfs over the read-only root image')
    .option('--kbs <URL>', 'key broker that releases the root image key after attesting the enclave')
    .option('--resource <PATH>', "the key's resource path at the key broker, e.g. default/disk/app")
    .option(
      '--kbs-key <FILE>',
      "the key broker's public key (cloister kbs public-key): volumes get rollback protection from its counters",
    )
    .option(
      '--net <wg.conf>',
      'the enclave network: a WireGuard tunnel (wg-quick format); see docs/network.md',
    )
    .option(
      '--tcplisten <ADDR:PORT>',
      'a TCP listener inside the tunnel, preopened for the program as fd 3, 4, ... (as wasmtime); repeatable',
      collect,
    )
    .option(
      '--volume <VOLUME::GUEST[:ro]>',
      'mount an encrypted volume at GUEST, writable (or read-only: :ro, shareable); repeatable',
      collect,
    );
}

/** `run` and `measure`: the measured options, keys (not measured), the signature and the backend. */
export function addRunOptions(command: Command): Command {
  return addMeasuredOptions(command)
    .option('--key-file <FILE>', "key file of the root image's LUKS2 container (as cryptsetup --key-file)")
    .option('--passphrase-file <FILE>', 'passphrase of the root image (first line of FILE)')
    .option('--volume-key-file <FILE>', 'key of each --volume, in order (one for all); repeatable', collect)
    .option(
      '--kbs-ca <FILE>',
      "CA certificate(s) (PEM) the host trusts for an https --kbs; the enclave's trust is --kbs-key",
    )
    .option('--sig <FILE>', "the enclave's SIGSTRUCT (cloister sign): its signer, product id and SVN")
    .addOption(
      new Option('--backend <NAME>', `TEE backend; what each proves:\n${backendSummary()}`)
        .choices([...BACKEND_NAMES])
        .default('sim'),
    );
}

/** The options only `cloister run` has (not part of the run's description). */
export function addRunOnlyOptions(command: Command): Command {
  return command.option(
    '--trace-host',
    'print the host calls made, with counts, bytes and host time, by class',
  );
}

/**
 * With a disk image, options may also follow it up to `--` (`run app.img --key-file k -- /bin/app`):
 * the program inside the image only gets what follows `--`. A .wasm program gets everything.
 * `commandOptions` adds the options of the command itself (`addRunOnlyOptions` for `run`).
 */
export function withImageOptions<T extends object>(
  file: string,
  args: string[],
  options: T,
  commandOptions: (command: Command) => Command = (command) => command,
): [string[], T] {
  const cut = args.indexOf('--');
  const treeNamed = args.slice(0, cut).some((a) => /^--(root-hash|hash-file)(=|$)/.test(a));
  if (cut <= 0 || !looksLikeImage(file, treeNamed)) return [args, options];
  const parser = commandOptions(
    addRunOptions(new Command().exitOverride().allowExcessArguments(false)),
  ).configureOutput({
    writeErr: () => {},
  });
  let extra: Record<string, unknown>;
  try {
    extra = parser.parse(args.slice(0, cut), { from: 'user' }).opts();
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^error: /, ''));
  }
  const merged: Record<string, unknown> = { ...(options as Record<string, unknown>) };
  for (const [key, value] of Object.entries(extra)) {
    const before = merged[key];
    merged[key] = Array.isArray(before) && Array.isArray(value) ? [...before, ...value] : value;
  }
  return [args.slice(cut), merged as T];
}
