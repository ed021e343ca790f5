// The tenant policy parser: strict about shape, types and values; hostile JSON gives a clear error.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicyError, PolicyFormatError, checkTcbStatus, parsePolicy } from '../../src/attestation/policy.ts';

const H = 'ab'.repeat(32);
const refused = (input: unknown, why: RegExp): void =>
  assert.throws(
    () => parsePolicy(input),
    (e: unknown) => e instanceof PolicyFormatError && e.code === 'bad-policy' && why.test(e.message),
    JSON.stringify(input)?.slice(0, 60),
  );

describe('policy parser', () => {
  it('reads every rule and fills the defaults', () => {
    assert.deepEqual(parsePolicy('{}'), { allowDebug: false, acceptedTcbStatuses: ['UpToDate'] });
    const p = parsePolicy(
      JSON.stringify({
        mrenclave: [H.toUpperCase()],
        mrsigner: [H, 'cd'.repeat(32)],
        isvprodid: 0,
        minIsvsvn: 65535,
        allowDebug: true,
        acceptedTcbStatuses: ['UpToDate', 'SWHardeningNeeded'],
        reportData: 'DEADBEEF',
      }),
    );
    assert.deepEqual(p.mrenclave, [H]);
    assert.equal(p.mrsigner?.length, 2);
    assert.equal(p.isvprodid, 0);
    assert.equal(p.minIsvsvn, 65535);
    assert.equal(p.allowDebug, true);
    assert.equal(p.reportData, 'deadbeef' + '0'.repeat(120));
  });

  it('refuses what is not a JSON object', () => {
    for (const text of ['', 'null', '[]', '"x"', '1', 'true', '{', '{"a":1,}', '\u0000'])
      refused(text, /not JSON|not a JSON object/);
    refused(null, /not a JSON object/);
    refused([{}], /not a JSON object/);
  });

  it('refuses unknown keys, including prototype keys', () => {
    refused('{"__proto__":{"allowDebug":true}}', /unknown key "__proto__"/);
    refused('{"constructor":{}}', /unknown key/);
    refused({ mrEnclave: [H] }, /unknown key "mrEnclave"/);
    refused({ allowdebug: true }, /unknown key/);
    refused({ ['x'.repeat(10000)]: 1 }, /unknown key/);
  });

  it('refuses wrong types and malformed values', () => {
    const bad: [object, RegExp][] = [
      [{ mrenclave: H }, /mrenclave must be a list/],
      [{ mrenclave: [] }, /mrenclave must be a list/],
      [{ mrenclave: [H.slice(2)] }, /mrenclave\[0\] is not 32 bytes/],
      [{ mrenclave: [H + '00'] }, /mrenclave\[0\]/],
      [{ mrsigner: ['zz'.repeat(32)] }, /mrsigner\[0\]/],
      [{ mrsigner: [1] }, /mrsigner\[0\]/],
      [{ mrsigner: Array(2000).fill(H) }, /mrsigner must be a list of 1..1024/],
      [{ isvprodid: -1 }, /isvprodid/],
      [{ isvprodid: 65536 }, /isvprodid/],
      [{ isvprodid: 1.5 }, /isvprodid/],
      [{ isvprodid: '1' }, /isvprodid/],
      [{ minIsvsvn: null }, /minIsvsvn/],
      [{ allowDebug: 'false' }, /allowDebug must be true or false/],
      [{ allowDebug: 0 }, /allowDebug/],
      [{ acceptedTcbStatuses: [] }, /non-empty list/],
      [{ acceptedTcbStatuses: 'UpToDate' }, /non-empty list/],
      [{ acceptedTcbStatuses: ['Revoked'] }, /acceptedTcbStatuses\[0\]/],
      [{ acceptedTcbStatuses: ['uptodate'] }, /acceptedTcbStatuses\[0\]/],
      [{ acceptedTcbStatuses: Array(100).fill('UpToDate') }, /non-empty list/],
      [{ reportData: '' }, /reportData/],
      [{ reportData: 'abc' }, /reportData/],
      [{ reportData: '00'.repeat(65) }, /reportData/],
      [{ reportData: ['00'] }, /reportData/],
    ];
    for (const [value, why] of bad) {
      refused(value, why);
      refused(JSON.stringify(value), why);
    }
    // Numbers JSON cannot hold exactly.
    refused('{"isvprodid": 1e400}', /isvprodid/);
  });

  it('bounds hostile sizes and depths', () => {
    refused(' '.repeat((1 << 20) + 1), /larger than/);
    refused('['.repeat(100000) + ']'.repeat(100000), /not JSON|not a JSON object/);
    refused(`{"mrenclave":${'['.repeat(5000)}${']'.repeat(5000)}}`, /mrenclave/);
  });

  it('accepts only UpToDate by default; other statuses need the opt-in and are refused naming their advisories', () => {
    checkTcbStatus({ status: 'UpToDate', advisoryIds: [] });
    for (const status of [
      'SWHardeningNeeded',
      'ConfigurationNeeded',
      'ConfigurationAndSWHardeningNeeded',
      'OutOfDate',
      'OutOfDateConfigurationNeeded',
      'Revoked',
    ]) {
      assert.throws(
        () => checkTcbStatus({ status, advisoryIds: ['INTEL-SA-00289', 'INTEL-SA-00615'] }),
        (e: unknown) =>
          e instanceof PolicyError &&
          e.code === 'tcb-status' &&
          e.message.includes(status) &&
          e.message.includes('INTEL-SA-00289, INTEL-SA-00615'),
        status,
      );
      assert.throws(() => checkTcbStatus({ status }, parsePolicy({}).acceptedTcbStatuses), PolicyError);
      if (status !== 'Revoked')
        checkTcbStatus({ status }, parsePolicy({ acceptedTcbStatuses: [status] }).acceptedTcbStatuses);
    }
  });
});
