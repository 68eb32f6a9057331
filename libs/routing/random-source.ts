// The random source routing draws from, passed in so decisions replay exactly in tests.

/** Returns a number in [0, 1), like Math.random. */
export type Random = () => number;

/** A deterministic source (mulberry32): the same seed gives the same draws on every run. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A source that replays fixed draws in turn, for tests that pin one exact choice. */
export function fixedRandom(...draws: number[]): Random {
  let i = 0;
  return () => {
    const draw = draws[i % draws.length] ?? 0;
    i += 1;
    return draw;
  };
}
