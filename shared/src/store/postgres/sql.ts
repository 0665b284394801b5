// What a PostgreSQL repository runs its statements on: the pool (autocommit) or, inside a
// transaction, the one client that holds it. Both are pg's `query`.
import type { QueryResult, QueryResultRow } from 'pg';

export interface Sql {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}
