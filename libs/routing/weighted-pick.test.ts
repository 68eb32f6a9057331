import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fixedRandom, seededRandom } from './random-source.ts';
import { weightedPick } from './weighted-pick.ts';

interface Item {
  name: string;
  weight: number;
}
const items: Item[] = [
  { name: 'a', weight: 1 },
  { name: 'b', weight: 3 },
  { name: 'c', weight: 6 },
];
const weight = (i: Item): number => i.weight;

function share(draws: number, allowed?: (i: Item) => boolean, seed = 42): Map<string, number> {
  const random = seededRandom(seed);
  const counts = new Map<string, number>();
  for (let i = 0; i < draws; i++) {
    const picked = weightedPick(items, weight, random, allowed);
    const name = picked?.name ?? 'none';
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return new Map([...counts].map(([k, v]) => [k, v / draws]));
}

describe('weightedPick', () => {
  it('chooses in proportion to weight over many seeded draws (within 1%)', () => {
    const shares = share(100_000);
    assert.ok(Math.abs((shares.get('a') ?? 0) - 0.1) < 0.01, `a ${shares.get('a')}`);
    assert.ok(Math.abs((shares.get('b') ?? 0) - 0.3) < 0.01, `b ${shares.get('b')}`);
    assert.ok(Math.abs((shares.get('c') ?? 0) - 0.6) < 0.01, `c ${shares.get('c')}`);
  });

  it('renormalises over the allowed candidates and never picks an excluded one', () => {
    const shares = share(50_000, (i) => i.name !== 'c');
    assert.equal(shares.get('c'), undefined);
    assert.ok(Math.abs((shares.get('a') ?? 0) - 0.25) < 0.01);
    assert.ok(Math.abs((shares.get('b') ?? 0) - 0.75) < 0.01);
  });

  it('returns undefined when nothing is allowed or the list is empty', () => {
    assert.equal(weightedPick(items, weight, seededRandom(1), () => false), undefined);
    assert.equal(weightedPick([], weight, seededRandom(1)), undefined);
  });

  it('never picks a zero, negative or non-finite weight', () => {
    const odd: Item[] = [
      { name: 'zero', weight: 0 },
      { name: 'neg', weight: -1 },
      { name: 'nan', weight: Number.NaN },
      { name: 'inf', weight: Infinity },
      { name: 'ok', weight: 1 },
    ];
    const random = seededRandom(3);
    for (let i = 0; i < 1_000; i++) assert.equal(weightedPick(odd, weight, random)?.name, 'ok');
  });

  it('maps draws onto cumulative weight bands exactly', () => {
    const table: [number, string][] = [
      [0, 'a'],
      [0.0999, 'a'],
      [0.1, 'b'],
      [0.3999, 'b'],
      [0.4, 'c'],
      [0.9999999, 'c'],
    ];
    for (const [draw, expected] of table) assert.equal(weightedPick(items, weight, fixedRandom(draw))?.name, expected, `draw ${draw}`);
  });

  it('is deterministic for the same seed', () => {
    const pick = (seed: number): string[] => {
      const random = seededRandom(seed);
      return Array.from({ length: 50 }, () => weightedPick(items, weight, random)?.name ?? '');
    };
    assert.deepEqual(pick(11), pick(11));
    assert.notDeepEqual(pick(11), pick(12));
  });
});
