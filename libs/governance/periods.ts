// The calendar periods budgets are counted in, all in UTC: a period's key names the spend
// counter it owns, and its end says when a budget refusal can lift.
export const periods = ['day', 'week', 'month', 'total'] as const;
export type Period = (typeof periods)[number];

const dayMs = 86_400_000;

/** The name of the period containing `atMs`: `2026-11-26`, `w2026-11-23` (its Monday), `2026-11`, `total`. */
export function periodKey(period: Period, atMs: number): string {
  switch (period) {
    case 'day':
      return isoDate(startOfDay(atMs));
    case 'week':
      return `w${isoDate(startOfWeek(atMs))}`;
    case 'month':
      return isoDate(atMs).slice(0, 7);
    case 'total':
      return 'total';
  }
}

/** Unix ms at which the period containing `atMs` ends (the next one begins); `total` never ends. */
export function periodEnd(period: Period, atMs: number): number | undefined {
  switch (period) {
    case 'day':
      return startOfDay(atMs) + dayMs;
    case 'week':
      return startOfWeek(atMs) + 7 * dayMs;
    case 'month': {
      const d = new Date(atMs);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    }
    case 'total':
      return undefined;
  }
}

function startOfDay(atMs: number): number {
  return Math.floor(atMs / dayMs) * dayMs;
}

// ISO weeks begin on Monday; getUTCDay() counts from Sunday.
function startOfWeek(atMs: number): number {
  const day = startOfDay(atMs);
  return day - ((new Date(day).getUTCDay() + 6) % 7) * dayMs;
}

function isoDate(atMs: number): string {
  return new Date(atMs).toISOString().slice(0, 10);
}
