// Clean-up for fault tests: every step runs even when an earlier one throws, and a spillway
// process that does not stop in time is killed, so a broken shutdown never leaves a broker, a
// subprocess or a fake upstream running (with the test runner waiting on it).
import type { SpillwayProcess } from './spillway-process.ts';

/** Runs the steps in order, each one whatever the others did, then rethrows the first failure. */
export async function cleanUpInOrder(...steps: (() => Promise<unknown> | undefined)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length > 0) throw failures[0];
}

/** SIGTERM, then SIGKILL if the process has not exited after graceMs; resolves once it is gone. */
export async function stopOrKill(p: SpillwayProcess, graceMs = 15_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gone = p.stop('SIGTERM');
  const overdue = new Promise<'overdue'>((resolve) => (timer = setTimeout(() => resolve('overdue'), graceMs)));
  if ((await Promise.race([gone, overdue])) === 'overdue') await p.stop('SIGKILL');
  clearTimeout(timer);
}
