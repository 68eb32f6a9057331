// Whether a key, its team or its customer has spent a budget, for the checks made outside
// admission (a batch being created, a request no ingest admitted), and how that is said.
import type { Principal } from './directory.ts';
import type { Meter } from './meter.ts';
import type { Period } from './periods.ts';
import { meteredSubjects } from './terms.ts';

/** The first budget of the principal's levels that is spent now, or undefined. */
export async function spentBudget(meter: Meter, principal: Principal): Promise<{ subject: string; period: Period } | undefined> {
  const subjects = meteredSubjects(principal).filter((s) => s.budgets.length > 0);
  return subjects.length === 0 ? undefined : meter.overBudget(subjects);
}

/** OpenAI's insufficient_quota message, naming the level and when its budget renews. */
export function quotaMessage(subject: string, period: Period | undefined): string {
  const which =
    period === 'total' || period === undefined
      ? `the total budget of ${subject} is spent. It does not renew: raise the budget to go on.`
      : `the budget of ${subject} for this ${period} is spent. It renews when the ${period} ends (UTC).`;
  return `You exceeded your current quota: ${which}`;
}
