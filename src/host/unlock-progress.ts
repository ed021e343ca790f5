/**
 * Draws the enclave's progress page (src/interface/progress-page.ts) while it unlocks the root
 * image: polls the page and hands the fraction to a bar until it reaches 100% or the run ends.
 */
import { PROGRESS_SCALE, readProgress } from '../interface/progress-page.ts';

/** What draws the progress (src/cli/progress-bar.ts's bar fits). */
export interface ProgressSink {
  update(done: number, total: number): void;
  stop(): void;
}

const POLL_MS = 100;

/** Starts polling `page` into `sink`; the returned function stops polling and the bar. */
export function showUnlockProgress(page: SharedArrayBuffer, sink: ProgressSink): () => void {
  let finished = false;
  const poll = (): void => {
    if (finished) return;
    const fraction = readProgress(page);
    if (fraction === 0) return;
    sink.update(Math.round(fraction * PROGRESS_SCALE), PROGRESS_SCALE);
    if (fraction === 1) {
      finished = true;
      sink.stop();
    }
  };
  const timer = setInterval(poll, POLL_MS);
  return () => {
    clearInterval(timer);
    poll();
    if (!finished) sink.stop();
    finished = true;
  };
}
