// Recent messages per topic for the `history` permission, bounded per topic.
import type { Db } from './db.js';

export interface HistoryMessage {
  id: number;
  topic: string;
  payload: Buffer;
  qos: number;
  at: number;
}

export class HistoryRepository {
  private readonly insertStmt;
  private readonly trimStmt;
  private readonly readStmt;
  private readonly usageStmt;
  private readonly hasTopicStmt;

  constructor(private readonly db: Db, private readonly perTopic: number) {
    this.insertStmt = db.prepare('INSERT INTO history (org_id, topic, payload, qos, at) VALUES (?, ?, ?, ?, ?)');
    this.trimStmt = db.prepare(`DELETE FROM history WHERE org_id = @orgId AND topic = @topic AND id <= (
      SELECT id FROM history WHERE org_id = @orgId AND topic = @topic ORDER BY id DESC LIMIT 1 OFFSET @keep)`);
    this.readStmt = db.prepare<[string, string, number], HistoryMessage>(
      'SELECT id, topic, payload, qos, at FROM history WHERE org_id = ? AND topic = ? ORDER BY id DESC LIMIT ?');
    this.usageStmt = db.prepare<[string], { topics: number; bytes: number }>(
      'SELECT COUNT(DISTINCT topic) AS topics, COALESCE(SUM(length(payload)), 0) AS bytes FROM history WHERE org_id = ?');
    this.hasTopicStmt = db.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM history WHERE org_id = ? AND topic = ? LIMIT 1');
  }

  /** Topics and payload bytes an organisation's history holds (for max_history_topics / max_history_bytes). */
  usage(orgId: string): { topics: number; bytes: number } {
    return this.usageStmt.get(orgId) ?? { topics: 0, bytes: 0 };
  }

  hasTopic(orgId: string, topic: string): boolean {
    return this.hasTopicStmt.get(orgId, topic) !== undefined;
  }

  get capacity(): number {
    return this.perTopic;
  }

  /** Appends a batch and trims each touched topic back to its bound, in one transaction. */
  appendBatch(messages: { orgId: string; topic: string; payload: Buffer; qos: number; at: number }[]): void {
    if (this.perTopic === 0 || messages.length === 0) return;
    this.db.transaction(() => {
      const touched = new Map<string, { orgId: string; topic: string }>();
      for (const m of messages) {
        this.insertStmt.run(m.orgId, m.topic, m.payload, m.qos, m.at);
        touched.set(`${m.orgId}\u0000${m.topic}`, m);
      }
      for (const t of touched.values()) this.trimStmt.run({ orgId: t.orgId, topic: t.topic, keep: this.perTopic });
    })();
  }

  /** Newest first. */
  read(orgId: string, topic: string, limit: number): HistoryMessage[] {
    return this.readStmt.all(orgId, topic, Math.min(limit, this.perTopic));
  }
}
