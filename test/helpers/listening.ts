// Waits for a `cloister kbs serve` child to print its "listening on URL" line on stderr.
import type { ChildProcess } from 'node:child_process';

/** Error of a broker that exited before listening, with its exit code and what it printed. */
export class BrokerExited extends Error {
  constructor(
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`kbs serve exited ${code}: ${stderr}`);
  }
}

/**
 * Resolves with the URL of the "listening on URL" line. The stderr kept for errors stops growing
 * at 10,000 characters; the stream is still drained, so a chatty broker never blocks on its pipe.
 */
export function listeningUrl(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`kbs serve did not start: ${text}`)), timeoutMs);
    child.stderr?.on('data', (d: Buffer) => {
      if (text.length < 10_000) text += d.toString();
      const m = /listening on (\S+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new BrokerExited(code, text));
    });
  });
}
