// Launching test enclaves of the fixture app on a sim platform of their own.
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  bundleJsApp,
  launchJsEnclave,
  type JsEnclave,
  type LaunchJsEnclaveOptions,
} from '../../src/host/js-enclave.ts';
import { platformPath } from '../attest/helpers/sim.ts';

export const VAULT_APP = new URL('fixtures/vault-app.ts', import.meta.url).pathname;

let vaultBundle: Promise<string> | undefined;
export function vaultApp(): Promise<string> {
  vaultBundle ??= bundleJsApp(VAULT_APP);
  return vaultBundle;
}

/** Enclaves and platform files to remove after the tests, also when they fail. */
export class TestEnclaves {
  private readonly enclaves: JsEnclave[] = [];
  readonly platform = platformPath();
  readonly console: string[] = [];

  async launch(options: LaunchJsEnclaveOptions = {}): Promise<JsEnclave> {
    const enclave = await launchJsEnclave({
      appBundle: options.appEntry ? undefined : await vaultApp(),
      platformPath: this.platform,
      onConsole: (_stream, text) => this.console.push(text),
      syncTimeoutMs: 30_000,
      ...options,
    });
    this.enclaves.push(enclave);
    return enclave;
  }

  async close(): Promise<void> {
    await Promise.all(this.enclaves.map((e) => e.close()));
    rmSync(dirname(this.platform), { recursive: true, force: true });
  }
}
