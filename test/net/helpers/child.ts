/** A child process of a network test: its output collected, waits for a line bounded in time. */
import type { ChildProcess } from 'node:child_process';

export class Child {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  constructor(readonly process: ChildProcess) {
    process.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    process.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => process.on('close', (code) => resolve(code)));
  }
  /** Resolves when stdout matches `pattern`; fails after `timeoutMs` or when the child ended first. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<void> {
    const start = Date.now();
    while (!pattern.test(this.stdout)) {
      if (Date.now() - start > timeoutMs || this.process.exitCode !== null)
        throw new Error(`no ${pattern} within ${timeoutMs} ms: ${this.stdout}\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  stop(): void {
    if (this.process.exitCode === null) this.process.kill('SIGKILL');
  }
}
