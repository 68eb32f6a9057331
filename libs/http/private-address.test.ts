import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { isPrivateAddress, privateLiteralHost, publicOnlyLookup } from './private-address.ts';

describe('isPrivateAddress', () => {
  it('flags loopback, private, link-local, shared, multicast and reserved addresses, v4 and v6', () => {
    for (const address of ['127.0.0.1', '10.0.0.5', '172.16.3.4', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1']) {
      assert.equal(isPrivateAddress(address), true, address);
    }
  });

  it('lets public addresses and host names through', () => {
    for (const address of ['8.8.8.8', '172.32.0.1', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', 'example.com']) {
      assert.equal(isPrivateAddress(address), false, address);
    }
  });
});

describe('privateLiteralHost', () => {
  it('finds a private literal in a URL, brackets and all, and ignores names', () => {
    assert.equal(privateLiteralHost('http://127.0.0.1:8080/x'), '127.0.0.1');
    assert.equal(privateLiteralHost('https://[::1]/x'), '::1');
    assert.equal(privateLiteralHost('https://example.com/x'), undefined);
    assert.equal(privateLiteralHost('https://93.184.215.14/x'), undefined);
  });
});

describe('publicOnlyLookup', () => {
  const lookup = (host: string, all: boolean): Promise<string | LookupAddress[]> =>
    new Promise((resolve, reject) =>
      publicOnlyLookup(host, { all }, (err, address) => {
        if (err) reject(err);
        else resolve(address);
      }),
    );

  it('refuses a name that resolves to loopback, whether one address or all are asked for', async () => {
    for (const all of [false, true]) {
      await assert.rejects(lookup('localhost', all), (err: Error & { code?: string }) => err.code === 'EWEBHOOKPRIVATE' && /private address/.test(err.message));
    }
  });
});
