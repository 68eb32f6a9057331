// Creating topics races with other creators and with leader election; both settle quickly, so
// the whole check-create-wait step is retried until it reports every partition has a leader.

export async function retryUntilSettled(step: () => Promise<boolean>, attempts = 20): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      if (await step()) return;
      throw new Error('topic partitions have no leader yet');
    } catch (err) {
      if (attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * attempt, 1_000)));
    }
  }
}
