// Counts spend from the usage topic: each event once (the meter deduplicates on the request id,
// so a redelivery after a crash changes nothing), into the key's, team's and customer's spend
// for every period, correcting the token estimate their tpm windows hold.
import { groupIds } from '#libs/bus/topics.ts';
import { deadLetter } from '#libs/bus/dead-letter.ts';
import type { Consumer } from '#libs/bus/bus.ts';
import { usageEventSchema } from '#libs/contracts/usage.ts';
import { chargedSubjects } from '#libs/governance/terms.ts';
import type { Runtime } from '#libs/runtime/runtime.ts';
import { safeJson } from '#libs/contracts/safe-json.ts';

export async function startUsageCounter(runtime: Runtime): Promise<Consumer> {
  const log = runtime.logger.child({ service: 'usage' });
  const unpriced = new Set<string>();
  return runtime.bus.consume({
    groupId: groupIds(runtime.config.prefix).usage,
    topics: [runtime.topics.usage],
    concurrency: 64,
    handle: async (message) => {
      const parsed = usageEventSchema.safeParse(safeJson(message.value.toString('utf8')));
      if (!parsed.success) {
        log.error({ offset: message.offset, partition: message.partition }, 'a usage event is not valid; sent to the dead-letter topic');
        runtime.metrics.deadLetters.inc({ reason: 'invalid_usage' });
        await deadLetter(runtime.bus, runtime.topics.dlq, message, parsed.error.message);
        return;
      }
      const event = parsed.data;
      if (event.costMicroUsd === null && event.model !== undefined && !unpriced.has(event.model)) {
        unpriced.add(event.model);
        log.warn({ provider: event.provider, model: event.model }, 'no price in the pricing table for this model: its usage counts as free against budgets');
      }
      const tokens = event.promptTokens + event.completionTokens;
      const charges = chargedSubjects({ key: event.key, team: event.team, customer: event.customer }).map((subject) => ({ subject, microUsd: event.costMicroUsd ?? 0, tokens }));
      const counted = await runtime.meter.record(event.id, event.at, charges);
      if (counted) runtime.metrics.spendMicroUsd.inc({ model: event.model ?? 'unknown' }, event.costMicroUsd ?? 0);
      else log.debug({ requestId: event.id }, 'usage already counted');
    },
  });
}
