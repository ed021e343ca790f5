// A JavaScript enclave fetches a key from the key broker named in its measured configuration: the
// broker releases it to the measured job only (its policy names the MRENCLAVE), after verifying a
// sim quote from inside; a modified bundle is refused the key.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { parsePolicy } from '../../src/attestation/policy.ts';
import { JsEnclaveError, measureJsApp } from '../../src/host/js-enclave.ts';
import { dcapEvidenceVerifier } from '../../src/attestation/evidence.ts';
import { KeyBroker } from '../../src/kbs/server.ts';
import { KbsStore } from '../../src/kbs/store.ts';
import { SimPlatform } from '../../src/tee/sim/platform.ts';
import { simCollateral } from '../../src/tee/sim/quoting.ts';
import { TestEnclaves, vaultApp } from './helpers.ts';

const JOB_KEY = new TextEncoder().encode('job-key:wordcount:0123456789abcdef');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('JavaScript enclave and the key broker', () => {
  const enclaves = new TestEnclaves();
  let url: string;
  let stop: () => Promise<void>;
  let store: KbsStore;
  before(async () => {
    const platform = await SimPlatform.open({ path: enclaves.platform });
    store = await KbsStore.open({});
    const broker = new KeyBroker({
      store,
      // The operator trusts the sim root for this test only; the policy is per resource.
      verifier: dcapEvidenceVerifier({
        collateral: await simCollateral(platform),
        trustedRoot: platform.rootCertificateDer,
      }),
      policy: parsePolicy({}),
      log: () => {},
    });
    const listening = await broker.listen({ host: '127.0.0.1', port: 0 });
    url = listening.url;
    stop = listening.close;
  });
  after(async () => {
    await enclaves.close();
    await stop();
    store.close();
  });

  it('releases the job key to the measured job, and refuses a modified bundle', async () => {
    const config = { settings: { job: 'wc' }, kbs: { url } };
    const app = await vaultApp();
    store.put('default/job/wc', JOB_KEY, parsePolicy({ mrenclave: [hex(measureJsApp(app, config))] }));

    const job = await enclaves.launch({ appBundle: app, config });
    const digest = createHash('sha256').update(JOB_KEY).digest('hex');
    assert.equal(await job.call('fetchKeyDigest', ['default/job/wc']), digest);

    const modified = await enclaves.launch({
      appBundle: app.replace('no secret set', 'no secret sat'),
      config,
    });
    await assert.rejects(
      modified.call('fetchKeyDigest', ['default/job/wc']),
      (e: unknown) =>
        e instanceof JsEnclaveError && e.code === 'threw' && /key broker refused/.test(e.message),
    );
  });

  it('without a measured key broker, kbsResource fails inside with a clear error', async () => {
    const plain = await enclaves.launch();
    await assert.rejects(plain.call('fetchKeyDigest', ['default/job/wc']), /names no key broker/);
  });
});
