// Writing many items at once: BatchWriteItem in groups of 25, a few requests in flight, each
// retrying its UnprocessedItems with backoff until written. DynamoDB refuses a whole request
// when one of its items is invalid (too large, say): the group is then written item by item,
// and the items refused are handed back, never retried, the others stored.
import { BatchWriteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { BatchWriter, ItemWriter, RejectedItem, TableItem } from '../../ports';
import { isItemTooLarge, isValidationError, retryDelay, Table } from './table';

export class TableWriter extends Table implements ItemWriter {
  async writeAll(items: TableItem[], concurrency = 4): Promise<RejectedItem[]> {
    const writer = this.batchWriter(concurrency);
    return writer.write(items);
  }

  /** Writes each item alone (until `stopped` says the pool failed); returns those DynamoDB refuses as invalid. */
  private async writeOneByOne(items: TableItem[], stopped: () => { error: unknown } | undefined): Promise<RejectedItem[]> {
    const rejected: RejectedItem[] = [];
    for (const item of items) {
      const failure = stopped();
      if (failure) throw failure.error;
      try {
        await this.doc.send(new PutCommand({ TableName: this.table, Item: item }));
      } catch (error) {
        if (!isValidationError(error)) throw error;
        rejected.push({ item, code: isItemTooLarge(error) ? 'ITEM_TOO_LARGE' : 'ITEM_INVALID', reason: (error as Error).message });
      }
    }
    return rejected;
  }

  batchWriter(concurrency = 4): BatchWriter {
    type Owner = { done: (rejected: RejectedItem[]) => void; fail: (error: unknown) => void; left: number; rejected: RejectedItem[] };
    const groups: { items: TableItem[]; owner: Owner }[] = [];
    let active = 0;
    let failure: { error: unknown } | undefined;
    const idleWaiters: (() => void)[] = [];
    const writeGroup = async (items: TableItem[]): Promise<RejectedItem[]> => {
      let pending = items.map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await retryDelay(attempt);
        if (failure) throw failure.error;
        let unprocessed;
        try {
          ({ UnprocessedItems: unprocessed } = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: pending } })));
        } catch (error) {
          if (!isValidationError(error)) throw error;
          return this.writeOneByOne(
            pending.map((p) => p.PutRequest.Item),
            () => failure,
          );
        }
        pending = (unprocessed?.[this.table] ?? []) as typeof pending;
        if (attempt > 20 && pending.length > 0) throw new Error('BatchWriteItem kept returning UnprocessedItems');
      }
      return [];
    };
    const pump = () => {
      if (failure) for (const group of groups.splice(0)) group.owner.fail(failure.error);
      while (active < concurrency && groups.length > 0) {
        const group = groups.shift()!;
        active += 1;
        writeGroup(group.items).then(
          (rejected) => {
            active -= 1;
            group.owner.rejected.push(...rejected);
            group.owner.left -= 1;
            if (group.owner.left === 0) group.owner.done(group.owner.rejected);
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
        if (items.length === 0) return Promise.resolve([]);
        return new Promise<RejectedItem[]>((done, fail) => {
          const owner: Owner = { done, fail, left: Math.ceil(items.length / 25), rejected: [] };
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
