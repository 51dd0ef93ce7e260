// Topics and topic suppressions in DynamoDB (issue 15, item 7). A topic is an item in its
// tenant's TOPICS# partition, counted in a TOPIC_COUNT item that caps how many a tenant makes;
// a topic suppression is an item in the tenant's SUPPRESSION_TOPIC# partition (address, then
// topic), apart from the global list so no global check or listing ever sees it.
import { DeleteCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Cursor, Page, Topics, TopicWrite } from '../../ports';
import { keys, ranges } from './keys';
import { conditionHeld, failedCondition, isConditionFailure, recordOf, retryConflicts, Table } from './table';
import type { TopicRecord, TopicSuppressionRecord } from './types';

export class TopicTable extends Table implements Topics {
  async putTopic(tenantId: string, name: string, fields: { display_name: string; description?: string }, max: number): Promise<TopicWrite> {
    // An update of an existing topic needs no room under the cap; a create takes one place in
    // the count in the same transaction. Two creates of one name at once: the loser updates.
    for (let attempt = 0; attempt < 3; attempt++) {
      const updated = await this.updateTopic(tenantId, name, fields);
      if (updated) return { outcome: 'updated', record: updated };
      const at = new Date().toISOString();
      const record: TopicRecord = { tenant_id: tenantId, name, ...fields, created_at: at, updated_at: at };
      try {
        await retryConflicts(() =>
          this.doc.send(
            new TransactWriteCommand({
              TransactItems: [
                {
                  Put: {
                    TableName: this.table,
                    Item: { ...keys.topic(tenantId, name), ...record },
                    ConditionExpression: 'attribute_not_exists(PK)',
                  },
                },
                {
                  Update: {
                    TableName: this.table,
                    Key: keys.topicCount(tenantId),
                    UpdateExpression: 'SET tenant_id = :t ADD topic_count :one',
                    ConditionExpression: 'attribute_not_exists(topic_count) OR topic_count < :max',
                    ExpressionAttributeValues: { ':t': tenantId, ':one': 1, ':max': max },
                  },
                },
              ],
            }),
          ),
        );
        return { outcome: 'created', record };
      } catch (error) {
        if (failedCondition(error, 1)) return { outcome: 'limit', max };
        if (!failedCondition(error, 0)) throw error;
      }
    }
    throw new Error(`topic ${name} of ${tenantId} kept changing while it was being written`);
  }

  /** The topic with its new fields (a description left out is removed), or undefined when there is none. */
  private async updateTopic(
    tenantId: string,
    name: string,
    fields: { display_name: string; description?: string },
  ): Promise<TopicRecord | undefined> {
    const description = fields.description === undefined ? ' REMOVE description' : ', description = :desc';
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.topic(tenantId, name),
          UpdateExpression: `SET display_name = :name, updated_at = :at${description}`,
          ConditionExpression: 'attribute_exists(PK)',
          ExpressionAttributeValues: {
            ':name': fields.display_name,
            ':at': new Date().toISOString(),
            ...(fields.description === undefined ? {} : { ':desc': fields.description }),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return recordOf<TopicRecord>(Attributes!);
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  getTopic(tenantId: string, name: string): Promise<TopicRecord | undefined> {
    return this.queryItem<TopicRecord>(keys.topic(tenantId, name));
  }

  listTopics(tenantId: string, limit: number, cursor?: Cursor): Promise<Page<TopicRecord>> {
    return this.queryPage<TopicRecord>(ranges.topics(tenantId), limit, cursor);
  }

  addTopicSuppression(record: TopicSuppressionRecord): Promise<boolean> {
    return conditionHeld(
      this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...keys.topicSuppression(record.tenant_id, record.topic, record.email), ...record },
          ConditionExpression: 'attribute_not_exists(PK)',
        }),
      ),
    );
  }

  getTopicSuppression(tenantId: string, topic: string, email: string): Promise<TopicSuppressionRecord | undefined> {
    return this.queryItem<TopicSuppressionRecord>(keys.topicSuppression(tenantId, topic, email));
  }

  deleteTopicSuppression(tenantId: string, topic: string, email: string, madeBefore?: string): Promise<boolean> {
    return conditionHeld(
      this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: keys.topicSuppression(tenantId, topic, email),
          ConditionExpression: madeBefore === undefined ? 'attribute_exists(PK)' : 'attribute_exists(PK) AND created_at < :before',
          ExpressionAttributeValues: madeBefore === undefined ? undefined : { ':before': madeBefore },
        }),
      ),
    );
  }

  async listTopicSuppressions(tenantId: string, limit: number, cursor?: Cursor, topic?: string): Promise<Page<TopicSuppressionRecord>> {
    if (topic === undefined) return this.queryPage<TopicSuppressionRecord>(ranges.topicSuppressions(tenantId), limit, cursor);
    // One topic's: a filter over the partition (DynamoDB reads `limit` items, then filters, so a
    // page can be short or empty with a cursor).
    const range = ranges.topicSuppressions(tenantId);
    const { Items, LastEvaluatedKey } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :sk)',
        FilterExpression: 'topic = :topic',
        ExpressionAttributeValues: { ':pk': range.PK, ':sk': range.skPrefix, ':topic': topic },
        Limit: limit,
        ExclusiveStartKey: cursor,
      }),
    );
    return { items: (Items ?? []).map((i) => recordOf<TopicSuppressionRecord>(i)), cursor: LastEvaluatedKey };
  }

  async topicSuppressionsOf(tenantId: string, email: string): Promise<TopicSuppressionRecord[]> {
    const found = await this.queryAll<TopicSuppressionRecord>(ranges.topicSuppressionsOf(tenantId, email));
    return found.filter((r) => r.email === email);
  }

  async deleteTopicSuppressionsOf(tenantId: string, email: string): Promise<number> {
    // At most one item per topic the address left, so a handful of deletes.
    const found = await this.topicSuppressionsOf(tenantId, email);
    await Promise.all(found.map((r) => this.deleteTopicSuppression(tenantId, r.topic, email)));
    return found.length;
  }
}
