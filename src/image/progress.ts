import cliProgress from 'cli-progress';

/** Reports progress of a phase: `done` of `total` bytes (or entries, for `unit` 'entries'). */
export type ProgressCallback = (
  phase: string,
  done: number,
  total: number,
  unit?: 'bytes' | 'entries',
) => void;

const amount = (n: number, unit: 'bytes' | 'entries') =>
  unit === 'bytes' ? (n / 2 ** 20).toFixed(1) : String(n);

/**
 * A progress callback that draws a bar on stderr when stdout is a terminal (the root hash goes to
 * stdout, so a redirected stdout means a script is reading: no bar), and does nothing otherwise.
 * Call `stop()` when finished.
 */
export function terminalProgress(enabled = Boolean(process.stdout.isTTY)): {
  onProgress: ProgressCallback;
  stop: () => void;
} {
  if (!enabled) return { onProgress: () => {}, stop: () => {} };
  let bar: cliProgress.SingleBar | undefined;
  let current = '';
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  const onProgress: ProgressCallback = (phase, done, total, unit = 'bytes') => {
    if (phase !== current) {
      stop();
      current = phase;
      const label = unit === 'bytes' ? 'MiB' : 'entries';
      bar = new cliProgress.SingleBar(
        { format: `${phase.padEnd(12)} [{bar}] {percentage}% | {done}/{all} ${label}`, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, { done: amount(0, unit), all: amount(total, unit) });
    }
    bar?.update(done, { done: amount(done, unit) });
  };
  return { onProgress, stop };
}
