/** Test fixtures: a KBS on 127.0.0.1 with an in-memory (or file) store and the test quote issuer. */
import { KeyBroker } from '../../../src/kbs/server.ts';
import type { KbsOptions } from '../../../src/kbs/server.ts';
import { KbsStore } from '../../../src/kbs/store.ts';
import { parsePolicy } from '../../../src/attestation/policy.ts';
import { KbsClient } from '../../../src/enclave/kbs/client.ts';
import type { KbsClientOptions } from '../../../src/enclave/kbs/client.ts';
import { MRENCLAVE, makeQuoteIssuer } from './quotes.ts';
import type { QuoteFields, QuoteIssuer } from './quotes.ts';

export const DISK_KEY = new TextEncoder().encode('disk-key:0123456789abcdef0123456789abcdef');
export const POLICY = parsePolicy({ mrenclave: [MRENCLAVE] });

export interface TestKbs {
  url: string;
  store: KbsStore;
  broker: KeyBroker;
  issuer: QuoteIssuer;
  logs: string[];
  close(): Promise<void>;
  /** A client whose evidence is a quote from the issuer with `fields` (report data filled in). */
  client(fields?: Omit<QuoteFields, 'reportData'>, extra?: Partial<KbsClientOptions>): KbsClient;
}

let shared: Promise<QuoteIssuer> | undefined;
/** One issuer per test process: generating its PKI takes a moment. */
export const issuer = (): Promise<QuoteIssuer> => (shared ??= makeQuoteIssuer());

/** Starts a KBS holding `default/disk/app` = DISK_KEY under POLICY. */
export async function startKbs(options: Partial<KbsOptions> & { file?: string } = {}): Promise<TestKbs> {
  const iss = await issuer();
  const store = options.store ?? (await KbsStore.open({ file: options.file }));
  store.put('default/disk/app', DISK_KEY, POLICY);
  const logs: string[] = [];
  const broker = new KeyBroker({
    verifier: iss.verifier,
    policy: POLICY,
    log: (l) => logs.push(l),
    ...options,
    store,
  });
  const { url, close } = await broker.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    store,
    broker,
    issuer: iss,
    logs,
    close: async () => {
      await close();
      store.close();
    },
    client: (fields = {}, extra = {}) =>
      new KbsClient({
        url,
        fetch: (u, init) => fetch(u, init),
        evidence: (reportData) => iss.quote({ ...fields, reportData }),
        ...extra,
      }),
  };
}
