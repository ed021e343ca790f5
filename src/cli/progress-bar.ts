/**
 * A progress bar on stderr for long steps (`volume create`, unlocking a key): drawn only when stderr
 * is a terminal, so scripts and pipes see nothing of it.
 */
import cliProgress from 'cli-progress';

export interface ProgressBar {
  /** `done` of `total` units. */
  update(done: number, total: number): void;
  stop(): void;
}

const MiB = 2 ** 20;

/** A bar labelled `label`, counting bytes (shown in MiB) or steps. */
export function stderrProgress(
  label: string,
  {
    unit = 'bytes',
    enabled = Boolean(process.stderr.isTTY),
  }: { unit?: 'bytes' | 'percent'; enabled?: boolean } = {},
): ProgressBar {
  if (!enabled) return { update: () => {}, stop: () => {} };
  const shown = (n: number): string => (unit === 'bytes' ? `${(n / MiB).toFixed(0)} MiB` : '');
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}%${unit === 'bytes' ? ' | {done}/{all}' : ''} | {duration}s`,
      hideCursor: true,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0, { done: shown(0), all: shown(total) });
        started = true;
      }
      bar.setTotal(total);
      bar.update(done, { done: shown(done), all: shown(total) });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
