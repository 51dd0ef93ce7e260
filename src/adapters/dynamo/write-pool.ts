// Writing many items at once: BatchWriteItem in groups of 25, a few requests in flight, each
// retrying its UnprocessedItems with backoff until written.
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { BatchWriter, ItemWriter, TableItem } from '../../ports';
import { retryDelay, Table } from './table';

export class TableWriter extends Table implements ItemWriter {
  async writeAll(items: TableItem[], concurrency = 4): Promise<void> {
    const writer = this.batchWriter(concurrency);
    await writer.write(items);
  }

  batchWriter(concurrency = 4): BatchWriter {
    type Owner = { done: () => void; fail: (error: unknown) => void; left: number };
    const groups: { items: TableItem[]; owner: Owner }[] = [];
    let active = 0;
    let failure: { error: unknown } | undefined;
    const idleWaiters: (() => void)[] = [];
    const writeGroup = async (items: TableItem[]) => {
      let pending = items.map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await retryDelay(attempt);
        if (failure) throw failure.error;
        const { UnprocessedItems } = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: pending } }));
        pending = (UnprocessedItems?.[this.table] ?? []) as typeof pending;
        if (attempt > 20 && pending.length > 0) throw new Error('BatchWriteItem kept returning UnprocessedItems');
      }
    };
    const pump = () => {
      if (failure) for (const group of groups.splice(0)) group.owner.fail(failure.error);
      while (active < concurrency && groups.length > 0) {
        const group = groups.shift()!;
        active += 1;
        writeGroup(group.items).then(
          () => {
            active -= 1;
            group.owner.left -= 1;
            if (group.owner.left === 0) group.owner.done();
            pump();
          },
          (error: unknown) => {
            active -= 1;
            failure ??= { error };
            group.owner.fail(error);
            pump();
          },
        );
      }
      if (active === 0) for (const wake of idleWaiters.splice(0)) wake();
    };
    return {
      write(items) {
        if (items.length === 0) return Promise.resolve();
        return new Promise<void>((done, fail) => {
          const owner: Owner = { done, fail, left: Math.ceil(items.length / 25) };
          for (let i = 0; i < items.length; i += 25) groups.push({ items: items.slice(i, i + 25), owner });
          pump();
        });
      },
      abort(reason: unknown = new Error('writer aborted')) {
        failure ??= { error: reason };
        pump();
      },
      idle() {
        return active === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));
      },
    };
  }
}
