import cliProgress from 'cli-progress';

/** Reports progress of a phase: `done` of `total` units (bytes). */
export type ProgressCallback = (phase: string, done: number, total: number) => void;

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
  const onProgress: ProgressCallback = (phase, done, total) => {
    if (phase !== current) {
      stop();
      current = phase;
      bar = new cliProgress.SingleBar(
        { format: `${phase.padEnd(12)} [{bar}] {percentage}% | {doneMiB}/{totalMiB} MiB`, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, { doneMiB: '0.0', totalMiB: (total / 2 ** 20).toFixed(1) });
    }
    bar?.update(done, { doneMiB: (done / 2 ** 20).toFixed(1) });
  };
  return { onProgress, stop };
}
