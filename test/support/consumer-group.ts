// Waits for a Kafka consumer group to settle with a given number of members, so a crash test
// knows each worker process owns partitions before it sends work (Kafka gives no event for it).
import { Kafka, logLevel } from 'kafkajs';

const pollMs = 100;

export async function waitForGroupMembers(brokers: string, groupId: string, members: number, timeoutMs = 30_000): Promise<void> {
  const admin = new Kafka({ clientId: 'group-watch', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    let last = 'not described yet';
    while (Date.now() < deadline) {
      const { groups } = await admin.describeGroups([groupId]);
      const group = groups[0];
      last = `${group.state} with ${group.members.length} members`;
      if (group.state === 'Stable' && group.members.length === members) return;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    throw new Error(`consumer group ${groupId} did not settle with ${members} members within ${timeoutMs} ms (last: ${last})`);
  } finally {
    await admin.disconnect();
  }
}
