// The small pieces that bound what hostile clients can cost: whom sessions and log lines are
// counted against, and the per-client budget of refusal log lines.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { LogBudget } from '../../src/kbs/log-budget.ts';
import { clientKey } from '../../src/kbs/server.ts';

describe('KBS limits', () => {
  it('counts an IPv4 address alone, an IPv6 address by its /64', () => {
    assert.equal(clientKey('127.0.0.2'), '127.0.0.2');
    assert.equal(clientKey('::ffff:10.1.2.3'), '10.1.2.3');
    // One host with a /64 can use any of 2^64 addresses: they count as one client.
    assert.equal(clientKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:db8:1:2:ffff:eeee:dddd:cccc'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:0db8:0001:0002:0:0:0:9'), '2001:db8:1:2::/64');
    assert.notEqual(clientKey('2001:db8:1:3::1'), clientKey('2001:db8:1:2::1'));
    assert.equal(clientKey('::1'), '0:0:0:0::/64');
    assert.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(clientKey(undefined), 'unknown');
  });

  it('gives each client its own budget of log lines and reports what it held back, once', () => {
    let clock = 0;
    const reports: Array<[string, number]> = [];
    const budget = new LogBudget(
      (client, held) => reports.push([client, held]),
      20,
      10_000,
      () => clock,
    );
    const taken = (client: string, n: number): number =>
      Array.from({ length: n }, () => budget.take(client)).filter(Boolean).length;
    assert.equal(taken('flooder', 1_000), 20);
    assert.equal(taken('enclave', 3), 3, 'another client is not silenced by the flood');
    assert.deepEqual(reports, []);
    clock = 10_000;
    assert.equal(taken('flooder', 5), 5, 'a new window, a new budget');
    assert.deepEqual(reports, [['flooder', 980]]);
    clock = 30_000;
    budget.take('enclave');
    assert.deepEqual(reports, [['flooder', 980]], 'nothing held back, nothing reported');
  });
});
