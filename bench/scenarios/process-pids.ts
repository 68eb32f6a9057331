// The processes whose memory every run reads: the targets, the upstream, Kafka and Redis (when
// the bench started them) and the bench process itself (the load generator).
import type { Child } from '../processes.ts';
import type { ScenarioContext } from '../scenario.ts';

export function processPids(ctx: ScenarioContext, children: Record<string, Child | { child: Child }>): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const [name, c] of Object.entries(children)) pids[name] = 'child' in c ? c.child.pid : c.pid;
  return { ...pids, ...ctx.services.pids, 'bench (load generator)': process.pid };
}
