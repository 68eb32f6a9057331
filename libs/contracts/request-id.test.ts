import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newRequestId, requestIdPattern } from './request-id.ts';

// Crockford's base32, the ULID alphabet: no i, l, o or u.
const crockford = '0123456789abcdefghjkmnpqrstvwxyz';

describe('newRequestId', () => {
  it('matches requestIdPattern', () => {
    for (let i = 0; i < 200; i++) assert.match(newRequestId(), requestIdPattern);
  });

  it('is req_ followed by 26 characters of the base32 alphabet', () => {
    const id = newRequestId(1_700_000_000_000);
    assert.ok(id.startsWith('req_'));
    const body = id.slice(4);
    assert.equal(body.length, 26);
    for (const ch of body) assert.ok(crockford.includes(ch), `${ch} is not in the alphabet`);
  });

  it('the pattern rejects ids with letters outside the alphabet, the wrong length or prefix', () => {
    const good = newRequestId(1_700_000_000_000);
    assert.match(good, requestIdPattern);
    for (const ch of ['i', 'l', 'o', 'u', 'I', '-']) assert.doesNotMatch(`${good.slice(0, -1)}${ch}`, requestIdPattern, ch);
    assert.doesNotMatch(good.slice(0, -1), requestIdPattern);
    assert.doesNotMatch(`${good}0`, requestIdPattern);
    assert.doesNotMatch(`rq_${good.slice(4)}`, requestIdPattern);
  });

  it('encodes the time in the first ten characters, most significant first', () => {
    assert.equal(newRequestId(0).slice(4, 14), '0000000000');
    assert.equal(newRequestId(1).slice(4, 14), '0000000001');
    assert.equal(newRequestId(31).slice(4, 14), '000000000z');
    assert.equal(newRequestId(32).slice(4, 14), '0000000010');
    assert.equal(newRequestId(32 * 32 + 5).slice(4, 14), '0000000105');
  });

  it('decodes back to the time it was made at', () => {
    const now = 1_756_000_123_456;
    let decoded = 0;
    for (const ch of newRequestId(now).slice(4, 14)) decoded = decoded * 32 + crockford.indexOf(ch);
    assert.equal(decoded, now);
  });

  it('ids made at increasing times sort lexicographically in the same order', () => {
    const times: number[] = [];
    let t = 1_700_000_000_000;
    // Strictly increasing, with gaps from 1 ms to over a day so every time digit changes.
    for (let i = 0; i < 500; i++) {
      t += 1 + ((i * 7_919) % 100_000_000);
      times.push(t);
    }
    const ids = times.map((t) => newRequestId(t));
    const sorted = [...ids].sort();
    assert.deepEqual(sorted, ids);
  });

  it('sorts by time across a carry into a higher digit', () => {
    const a = newRequestId(32 ** 3 - 1);
    const b = newRequestId(32 ** 3);
    assert.ok(a < b, `${a} < ${b}`);
  });

  it('sorts a millisecond apart regardless of the random part', () => {
    for (let i = 0; i < 200; i++) {
      const t = 1_700_000_000_000 + i;
      assert.ok(newRequestId(t) < newRequestId(t + 1));
    }
  });

  it('is unique over 10,000 ids made at the same millisecond', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 10_000; i++) ids.add(newRequestId(1_700_000_000_000));
    assert.equal(ids.size, 10_000);
  });

  it('the random part uses the whole alphabet', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i++) for (const ch of newRequestId(0).slice(14)) seen.add(ch);
    assert.equal(seen.size, 32);
  });
});
