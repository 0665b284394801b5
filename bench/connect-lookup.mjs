#!/usr/bin/env node
// The database half of a CONNECT, in-process, on one SQLite file: the credential statement as it
// was before issue 12 (`FROM tokens t … WHERE t.password_hash = ?`, shared/src/store/connectRecords.ts
// at acf1951) against the one after it (`FROM token_passwords p JOIN tokens t ON t.id = p.token_id
// … WHERE p.password_hash = ?`, the same file at 29add22), both texts copied here so they run on the
// same data. Every lookup reads a token no earlier lookup read (as every CONNECT of bench/connect.mjs
// does), in blocks of 500 that alternate old, new, old, … so drift hits both alike; the figure is the
// median of the per-block µs per lookup. Also: the build's own ConnectRecordReader.byPasswordHash
// (statement + row mapping, each call awaited through the asynchronous store), and the cost of what
// issue 12 added to a session's end, the `tokens.last_used_at` touch, batched in transactions of
// 100 as the broker's row writer does.
//   node bench/connect-lookup.mjs [--tokens 60000]
import crypto from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { arg, loadAverage, median, round, saveResult } from './lib/env.mjs';
import { prepareSignalGate } from './lib/servers.mjs';

const COLUMNS = `SELECT t.*,
        u.user_id AS u_user_id, u.user_email AS u_user_email, u.created_at AS u_created_at,
        o.name AS o_name, o.created_at AS o_created_at, o.default_ttl_seconds AS o_default_ttl,
        o.min_ttl_seconds AS o_min_ttl, o.max_ttl_seconds AS o_max_ttl, o.max_connections AS o_max_connections,
        o.max_messages_per_second AS o_max_messages, o.max_bytes_per_second AS o_max_bytes,
        o.max_payload_bytes AS o_max_payload, o.token_messages_per_second AS o_token_messages,
        o.max_connects_per_second AS o_max_connects,
        d.publish AS d_publish, d.subscribe AS d_subscribe, d.presence AS d_presence, d.history AS d_history,
        r.publish AS r_publish, r.subscribe AS r_subscribe, r.presence AS r_presence, r.history AS r_history`;
const JOINS = `LEFT JOIN users u ON u.org_id = t.org_id AND u.user_ref = t.user_ref
      LEFT JOIN orgs o ON o.id = t.org_id
      LEFT JOIN rule_sets d ON d.org_id = t.org_id AND d.is_default = 1
      LEFT JOIN integrations i ON i.org_id = t.org_id AND i.id = t.integration_id
      LEFT JOIN rule_sets r ON r.id = i.rule_set_id AND r.org_id = t.org_id`;
const BEFORE = `${COLUMNS} FROM tokens t ${JOINS} WHERE t.password_hash = ?`;
const AFTER = `${COLUMNS.replace('o.name AS o_name,', 'o.name AS o_name, o.uuid AS o_uuid,')} FROM token_passwords p JOIN tokens t ON t.id = p.token_id ${JOINS} WHERE p.password_hash = ?`;

const BLOCK = 500;
const sha256Hex = (s) => crypto.createHash('sha256').update(s).digest('hex');

function shuffled(list) {
  const a = [...list];
  for (let i = a.length - 1; i > 0; i--) {
    const j = crypto.randomInt(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** µs per call of `fn` over `items`, one block at a time; `kinds` take turns block by block. */
function alternate(kinds, items) {
  const perBlock = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
  const names = Object.keys(kinds);
  for (let b = 0; b * BLOCK < items.length; b++) {
    const name = names[b % names.length];
    const block = items.slice(b * BLOCK, (b + 1) * BLOCK);
    const t0 = process.hrtime.bigint();
    for (const x of block) if (kinds[name](x) === undefined) throw new Error(`${name}: no row`);
    perBlock[name].push(Number(process.hrtime.bigint() - t0) / block.length / 1000);
  }
  return Object.fromEntries(names.map((n) => [n, { us: round(median(perBlock[n]), 1), blocks: perBlock[n].length }]));
}

/** `alternate` for asynchronous calls (the store's repositories), each awaited before the next. */
async function alternateAwaited(kinds, items) {
  const perBlock = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
  const names = Object.keys(kinds);
  for (let b = 0; b * BLOCK < items.length; b++) {
    const name = names[b % names.length];
    const block = items.slice(b * BLOCK, (b + 1) * BLOCK);
    const t0 = process.hrtime.bigint();
    for (const x of block) if ((await kinds[name](x)) === undefined) throw new Error(`${name}: no row`);
    perBlock[name].push(Number(process.hrtime.bigint() - t0) / block.length / 1000);
  }
  return Object.fromEntries(names.map((n) => [n, { us: round(median(perBlock[n]), 1), blocks: perBlock[n].length }]));
}

export async function runConnectLookup({ tokens = 60_000 } = {}) {
  const load = [loadAverage()];
  const sg = await prepareSignalGate({ tokens, label: 'lookup' });
  const { services } = sg;
  const hashes = shuffled(sg.creds.map((c) => sha256Hex(c.password)));
  // A connection of its own, like the broker's (prepared once, default page cache).
  const db = new Database(path.join(sg.dataDir, 'signalgate.db'), { readonly: true });
  const before = db.prepare(BEFORE);
  const after = db.prepare(AFTER);
  const plan = (sql) => db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all('x').map((r) => r.detail);
  for (const h of hashes.slice(0, 200)) { before.get(h); after.get(h); } // warm-up (statement, JIT)
  const rest = hashes.slice(200);
  const third = Math.floor(rest.length / 3);
  const statements = alternate({ before: (h) => before.get(h), after: (h) => after.get(h) }, rest.slice(0, 2 * third));
  const reader = await alternateAwaited({ connectRecordsByPasswordHash: (h) => services.store.connectRecords.byPasswordHash(h) }, rest.slice(2 * third));
  // Hot: the same 500 tokens again (pages cached), old and new alternating.
  const hot = alternate({ before: (h) => before.get(h), after: (h) => after.get(h) }, Array.from({ length: 20 }, () => hashes.slice(0, BLOCK)).flat());

  // The session-end touch, in the broker's batches (one transaction per flush).
  const ids = shuffled(sg.creds.map((c) => c.tokenId)).slice(0, 20_000);
  const touchBlocks = [];
  for (let i = 0; i < ids.length; i += 100) {
    const batch = ids.slice(i, i + 100);
    const at = Date.now();
    const t0 = process.hrtime.bigint();
    await services.store.transaction(async (tx) => { for (const id of batch) await tx.tokens.touch(id, at); });
    touchBlocks.push(Number(process.hrtime.bigint() - t0) / batch.length / 1000);
  }
  const result = {
    params: { tokens, block: BLOCK },
    firstRead: { ...statements, afterOverBefore: round(statements.after.us / statements.before.us, 3) },
    hot: { ...hot, afterOverBefore: round(hot.after.us / hot.before.us, 3) },
    reader: reader.connectRecordsByPasswordHash,
    touchUsPerSession: round(median(touchBlocks), 1),
    plans: { before: plan(BEFORE), after: plan(AFTER) },
    load: [...load, loadAverage()],
  };
  db.close();
  await services.store.close();
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runConnectLookup({ tokens: arg('tokens', 60_000) });
  saveResult('connect-lookup', result);
  console.log(JSON.stringify(result, null, 2));
  process.exit(0);
}
