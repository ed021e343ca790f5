/**
 * Command groups with heavy dependencies (X.509, JOSE, SQLite, progress bars, curves), loaded only when
 * their command is asked for (or for the full help): `cloister run` starts without them.
 */
import type { CommandGroups } from './program.ts';

export const commandGroups: CommandGroups = {
  image: async () => (await import('./image.ts')).registerImageCommands,
  volume: async () => (await import('./volume.ts')).registerVolumeCommands,
  attest: async () => (await import('./attest.ts')).registerAttestCommands,
  kbs: async () => (await import('./kbs.ts')).registerKbsCommands,
  net: async () => (await import('./net.ts')).registerNetCommands,
  data: async () => (await import('./data.ts')).registerDataCommands,
  job: async () => (await import('./job.ts')).registerJobCommands,
  partition: async () => (await import('./partition.ts')).registerPartitionCommands,
};
