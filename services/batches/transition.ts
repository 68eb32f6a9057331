// Moves a batch from one status to the next: a compare-and-set on its status, retried when a
// concurrent change (a cancel, a finaliser) got there first.
import type { Batch, BatchStatus } from '#libs/contracts/batch.ts';
import type { Store } from '#libs/store/store.ts';

/** The batch after the change, or undefined when its status is not (or no longer) one of `from`. */
export async function transitionBatch(store: Store, id: string, from: readonly BatchStatus[], change: (batch: Batch) => Batch): Promise<Batch | undefined> {
  for (;;) {
    const batch = await store.getBatch(id);
    if (!batch || !from.includes(batch.status)) return undefined;
    const next = change(batch);
    if (await store.replaceBatch(next, batch.status)) return next;
  }
}
