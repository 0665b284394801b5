#!/usr/bin/env node
// Turns bench/results/*.json into the tables and the chart of bench/RESULTS.md (between the
// results markers; text outside them is kept) and bench/results.svg. One table per protocol level
// (MQTT 3.1.1, MQTT 5), each peer in its own column: SignalGate, bare aedes 2.0.0-beta.1 (the
// aedes it runs on), bare aedes 1.2.0 (the one it ran on before) and Mosquitto.
//   node bench/report.mjs
import fs from 'node:fs';
import path from 'node:path';
import { benchDir, resultsDir } from './lib/env.mjs';
import { FLOORS_311 } from './lib/compare.mjs';

const read = (name) => {
  const file = path.join(resultsDir, `${name}.json`);
  if (!fs.existsSync(file)) return null;
  const r = JSON.parse(fs.readFileSync(file, 'utf8'));
  // Results from before the two-protocol bench (one aedes, no `protocols`) are not read.
  return ['connect', 'publish', 'memory'].some((n) => name.startsWith(n)) && !r.protocols ? null : r;
};
const connect = read('connect');
const publish = read('publish');
const memory = read('memory');
const mint = read('mint');
const disconnect = read('disconnect');
const connectBA = read('connect-before-after');
const publishBA = read('publish-before-after');
const mintBA = read('mint-before-after');

const num = (x, digits = 0) => (x === undefined || x === null || Number.isNaN(x) ? '–' : Number(x).toLocaleString('en-US', { maximumFractionDigits: digits }));
const ratio = (x) => (x === undefined || x === null || Number.isNaN(x) ? '–' : `${Number(x).toFixed(2)}×`);
const verdict = (met) => (met === undefined || met === null ? '' : met ? '**met**' : '**missed**');
/** A rate ratio with the server-CPU ratio beside it, where the run measured CPU. */
const ratioCpu = (c) => (!c ? '–' : c.cpu === undefined ? ratio(c.rate) : `${ratio(c.rate)} (CPU ${ratio(c.cpu)})`);
const loadOf = (r) => (r ? r.load.map((l) => l.one.toFixed(2)).join(' → ') : '–');
const PROTOCOL_NAMES = { 4: 'MQTT 3.1.1', 5: 'MQTT 5' };
const SCENARIO_NAMES = { qos0_1to1: 'QoS 0, 1→1', qos1_1to1: 'QoS 1, 1→1', qos0_1to100: 'QoS 0, 1→100', qos1_1to100: 'QoS 1, 1→100' };
const PEERS = ['signalgate', 'aedes-2', 'aedes-1.2', 'mosquitto'];
const OTHERS = ['aedes-2', 'aedes-1.2', 'mosquitto'];
const versions = { ...memory?.versions, ...publish?.versions, ...connect?.versions };
const peerTitle = {
  signalgate: 'SignalGate',
  'aedes-2': `bare aedes ${versions['aedes-2'] ?? '2'}`,
  'aedes-1.2': `bare aedes ${versions['aedes-1.2'] ?? '1.2'}`,
  mosquitto: 'Mosquitto 2.0.11',
};
const protocolsRun = [...new Set([connect, publish, memory].flatMap((r) => (r ? Object.keys(r.protocols).map(Number) : [])))].sort();

/** A peer's cell: the figure, or "n/a" with why (aedes 1.2 at 5: CONNACK 1). */
const cell = (f, show) => (!f ? '–' : f.na ? `n/a (${f.na})` : show(f));
const naRatio = (figures, peer, c) => (figures?.[peer]?.na ? 'n/a' : ratioCpu(c));

function protocolTable(v) {
  const rows = [];
  const chart = [];
  const c = connect?.protocols[v];
  if (c) {
    const f = c.figures;
    rows.push(['connect + auth rate (connects/s)', ...PEERS.map((p) => cell(f[p], (x) => num(x.connectsPerSecond))),
      ...OTHERS.map((p) => naRatio(f, p, c.vs[p])), ratioCpu(c.aedes2VsAedes12)]);
    rows.push(['server CPU per session, connect + disconnect (µs)', ...PEERS.map((p) => cell(f[p], (x) => num(x.serverCpuUsPerSession))), '', '', '', '']);
    rows.push(['CONNECT→CONNACK p50 / p99 (ms)', ...PEERS.map((p) => cell(f[p], (x) => `${num(x.p50Ms, 1)} / ${num(x.p99Ms, 1)}`)), '', '', '', '']);
    const failed = PEERS.filter((p) => f[p]?.failures);
    if (failed.length) rows.push(['failed CONNECTs (all rounds)', ...PEERS.map((p) => cell(f[p], (x) => (x.failures ? `${num(x.failures)} (${x.firstFailure})` : '0'))), '', '', '', '']);
    chart.push({ label: `connects/s ${v === 5 ? 'v5' : '3.1.1'}`, values: normalised(f, (x) => x.connectsPerSecond, c.vs['aedes-2']) });
  }
  const p = publish?.protocols[v];
  if (p) {
    for (const [id, s] of Object.entries(p.figures)) {
      const f = s.peers;
      rows.push([`publish ${SCENARIO_NAMES[id]} (deliveries/s; server CPU µs per delivery)`, ...PEERS.map((q) => cell(f[q], (x) => `${num(x.deliveriesPerSecond)} (${num(x.serverCpuUsPerDelivery, 1)})`)),
        ...OTHERS.map((q) => naRatio(f, q, s.vs[q])), ratioCpu(s.aedes2VsAedes12)]);
      chart.push({ label: `${SCENARIO_NAMES[id]} ${v === 5 ? 'v5' : '3.1.1'}`, values: normalised(f, (x) => x.deliveriesPerSecond, s.vs['aedes-2']) });
    }
  }
  const m = memory?.protocols[v];
  if (m) {
    const f = m.figures;
    const top = memory.params.connections;
    const rssRatio = (peer, n) => (f[peer]?.na || !f.signalgate[`rssMbAt${n}`] ? 'n/a' : ratio(f.signalgate[`rssMbAt${n}`] / f[peer][`rssMbAt${n}`]));
    for (const n of [...new Set([1000, top])]) {
      rows.push([`broker RSS, ${num(n)} idle authenticated connections (MB; ratio: lower is better)`, ...PEERS.map((q) => cell(f[q], (x) => num(x[`rssMbAt${n}`], 1))),
        ...OTHERS.map((q) => rssRatio(q, n)), f['aedes-2'] && f['aedes-1.2'] && !f['aedes-1.2'].na ? ratio(f['aedes-2'][`rssMbAt${n}`] / f['aedes-1.2'][`rssMbAt${n}`]) : '']);
    }
    if (top > 1000) {
      rows.push([`RSS per idle connection, 1k→${num(top / 1000)}k (kB)`, ...PEERS.map((q) => cell(f[q], (x) => num(x.perConnectionKb, 1))),
        ...OTHERS.map((q) => (f[q]?.na ? 'n/a' : ratio(m.vs[q]?.perConnection))), f['aedes-1.2'] && !f['aedes-1.2'].na ? ratio(f['aedes-2'].perConnectionKb / f['aedes-1.2'].perConnectionKb) : '']);
    }
  }
  return { rows, chart };
}

/**
 * Each peer's median figure ÷ bare aedes 2's (= 1), for the chart; n/a peers left out. SignalGate's
 * bar is its ratio in the table (the median of per-round ratios), so chart and table agree.
 */
function normalised(figures, get, sgVsAedes2) {
  const base = get(figures['aedes-2']);
  const values = Object.fromEntries(PEERS.filter((p) => figures[p] && !figures[p].na).map((p) => [p, get(figures[p]) / base]));
  if (sgVsAedes2?.rate !== undefined && values.signalgate !== undefined) values.signalgate = sgVsAedes2.rate;
  return values;
}

const header = ['figure', ...PEERS.map((p) => peerTitle[p]), 'SignalGate / aedes 2', 'SignalGate / aedes 1.2', 'SignalGate / Mosquitto', 'aedes 2 / aedes 1.2'];
const tables = [];
const chart = [];
for (const v of protocolsRun) {
  const t = protocolTable(v);
  chart.push(...t.chart);
  tables.push(`#### ${PROTOCOL_NAMES[v]}`, '', `| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...t.rows.map((r) => `| ${r.join(' | ')} |`), '');
}

// The 3.1.1 floors: no figure below the ratio to bare aedes it had on aedes 1.2 (2026-11-24).
const floorRows = [];
if (connect?.protocols[4]?.floor) {
  const fl = connect.protocols[4].floor;
  floorRows.push(['connect + auth rate', ratio(fl.floor), ratio(fl['aedes-2']?.ratio), verdict(fl['aedes-2']?.met), ratio(fl['aedes-1.2']?.ratio), verdict(fl['aedes-1.2']?.met)]);
}
for (const [id, s] of Object.entries(publish?.protocols[4]?.figures ?? {})) {
  const fl = s.floor;
  if (fl?.floor === undefined) continue;
  floorRows.push([`publish ${SCENARIO_NAMES[id]}`, ratio(fl.floor), ratio(fl['aedes-2']?.ratio), verdict(fl['aedes-2']?.met), ratio(fl['aedes-1.2']?.ratio), verdict(fl['aedes-1.2']?.met)]);
}

// The same server at MQTT 5 against itself at MQTT 3.1.1, in the same rounds.
const v5Rows = [];
if (connect?.v5OverV4) v5Rows.push(['connect + auth rate', ...PEERS.map((p) => (connect.v5OverV4[p] ? ratioCpu(connect.v5OverV4[p]) : 'n/a'))]);
for (const [id, per] of Object.entries(publish?.v5OverV4 ?? {})) v5Rows.push([`publish ${SCENARIO_NAMES[id]}`, ...PEERS.map((p) => (per[p] ? ratioCpu(per[p]) : 'n/a'))]);

// The publisher at 5 holds to each broker's Receive Maximum (CONNACK); recorded per peer.
const receiveMaximum = publish?.protocols[5]
  ? PEERS.map((p) => {
    const x = Object.values(publish.protocols[5].figures)[0]?.peers[p];
    return x?.na ? null : `${peerTitle[p]} ${x?.receiveMaximum === undefined ? '–' : num(x.receiveMaximum)}`;
  }).filter(Boolean).join(', ')
  : null;

// Not protocol-dependent: the token API, and SignalGate's own revocation (3.1.1 clients).
const otherRows = [];
if (mint) {
  const f = mint.figures;
  otherRows.push(['token mint over HTTP keep-alive (tokens/s)', num(f.signalgate.perSecond), `bare Express 5: ${num(f.bareExpress.perSecond)}`, `${ratio(mint.ratioVsBareExpress)} bare Express`, '≥ 5,000/s', verdict(mint.target.met)]);
  otherRows.push(['mint latency p50 / p99 (ms)', `${num(f.signalgate.p50Ms)} / ${num(f.signalgate.p99Ms)}`, `${num(f.bareExpress.p50Ms)} / ${num(f.bareExpress.p99Ms)}`, '', '', '']);
}
if (memory) {
  otherRows.push([`broker RSS, ${num(memory.params.connections)} idle connections, worse of the two protocols (MB)`, num(memory.target.measured, 1), '', '', '≤ 400 MB', verdict(memory.target.met)]);
}
if (disconnect) {
  const r = disconnect.figures.revokeToDisconnect;
  const e = disconnect.figures.expiryToDisconnect;
  otherRows.push([`revoke → disconnect p50 / p99 (ms, ${r.n} sessions)`, `${num(r.p50, 1)} / ${num(r.p99, 1)}`, 'peers: no revocation', '', 'p99 ≤ 1,000 ms', verdict(disconnect.target.met)]);
  otherRows.push([`expiry → disconnect p50 / p99 (ms, ${e.n} sessions)`, `${num(e.p50, 1)} / ${num(e.p99, 1)}`, '–', '', '', '']);
}

function svgChart(groups) {
  const colors = { signalgate: '#2b6cb0', 'aedes-2': '#a0aec0', 'aedes-1.2': '#4a5568', mosquitto: '#dd6b20' };
  const barH = 10;
  const groupH = barH * 4 + 12;
  const left = 140;
  const width = 600;
  const max = Math.max(2, ...groups.flatMap((g) => Object.values(g.values)));
  const scale = (width - left - 60) / max;
  const height = groups.length * groupH + 50;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="10">`,
    `<text x="${left}" y="14" font-weight="bold" font-size="11">throughput relative to bare aedes 2 (= 1.0), same run, 2 cores</text>`];
  groups.forEach((g, gi) => {
    const y0 = 26 + gi * groupH;
    out.push(`<text x="${left - 6}" y="${y0 + barH * 2.2}" text-anchor="end">${g.label}</text>`);
    PEERS.forEach((name, i) => {
      const v = g.values[name];
      if (v === undefined) return;
      const y = y0 + i * barH;
      out.push(`<rect x="${left}" y="${y}" width="${Math.max(1, v * scale).toFixed(1)}" height="${barH - 2}" fill="${colors[name]}"/>`);
      out.push(`<text x="${(left + v * scale + 4).toFixed(1)}" y="${y + barH - 2}">${v.toFixed(2)}</text>`);
    });
  });
  const x1 = left + scale;
  out.push(`<line x1="${x1}" y1="22" x2="${x1}" y2="${height - 24}" stroke="#444" stroke-dasharray="3,3"/>`);
  const ly = height - 10;
  PEERS.forEach((name, i) => {
    out.push(`<rect x="${left + i * 105}" y="${ly - 9}" width="10" height="10" fill="${colors[name]}"/><text x="${left + i * 105 + 14}" y="${ly}">${name}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

function asciiChart(groups) {
  const lines = [];
  for (const g of groups) {
    PEERS.forEach((name, i) => {
      const v = g.values[name];
      lines.push(`${(i === 0 ? g.label : '').padEnd(20)} ${name.padEnd(10)} ${v === undefined ? 'n/a' : `${'█'.repeat(Math.max(1, Math.round(v * 20)))} ${v.toFixed(2)}`}`);
    });
  }
  return lines.join('\n');
}

// Before/after of a change: the build before (`--before DIR`) and the build after, same rounds.
const baRows = [];
for (const v of [4, 5]) {
  const c = connectBA?.protocols?.[v];
  if (c?.vs['signalgate-before']) {
    const f = c.figures;
    baRows.push([`${PROTOCOL_NAMES[v]} connect + auth rate (connects/s)`, num(f['signalgate-before'].connectsPerSecond), num(f.signalgate.connectsPerSecond), ratioCpu(c.vs['signalgate-before']),
      `${ratio(c.beforeVsAedes2?.rate)} → ${ratio(c.vs['aedes-2']?.rate)}`, loadOf(connectBA)]);
  }
  for (const [id, s] of Object.entries(publishBA?.protocols?.[v]?.figures ?? {})) {
    if (!s.vs['signalgate-before']) continue;
    baRows.push([`${PROTOCOL_NAMES[v]} publish ${SCENARIO_NAMES[id]} (deliveries/s)`, num(s.peers['signalgate-before'].deliveriesPerSecond), num(s.peers.signalgate.deliveriesPerSecond),
      ratioCpu(s.vs['signalgate-before']), `${ratio(s.beforeVsAedes2?.rate)} → ${ratio(s.vs['aedes-2']?.rate)}`, loadOf(publishBA)]);
  }
}
if (mintBA?.before) {
  baRows.push(['token mint over HTTP (tokens/s)', num(mintBA.before.perSecond), num(mintBA.figures.signalgate.perSecond), ratio(mintBA.before.afterOverBefore),
    `bare Express ${num(mintBA.figures.bareExpress.perSecond)}/s`, loadOf(mintBA)]);
}

const paramsLine = [
  connect && `connect: ${num(connect.params.clients)} clients × ${connect.params.rounds} rounds per peer and protocol, ${connect.params.concurrency} in flight`,
  publish && `publish: ${publish.params.seconds} s × ${publish.params.rounds} rounds per scenario, peer and protocol, window ${publish.params.window}`,
  memory && `memory: 1k and ${num(memory.params.connections)} connections, a fresh server per peer and protocol`,
].filter(Boolean).join('; ');

const generated = [
  '<!-- results:begin (generated by `npm run bench:report` from bench/results/*.json) -->',
  '',
  paramsLine ? `${paramsLine}. Ratios SignalGate / peer are medians of per-round ratios; \`(CPU x×)\` = peer's server CPU per unit of work ÷ SignalGate's (above 1 = SignalGate spends less). RSS ratios: SignalGate ÷ peer (below 1 = SignalGate uses less).` : '',
  '',
  ...tables,
  ...(floorRows.length ? [
    '#### MQTT 3.1.1 floors (no figure below its ratio to bare aedes on 2026-11-24)',
    '',
    '| figure | floor | SignalGate / aedes 2 | vs floor | SignalGate / aedes 1.2 | vs floor |',
    '|---|---|---|---|---|---|',
    ...floorRows.map((r) => `| ${r.join(' | ')} |`),
    '',
    `Floors: connect ${ratio(FLOORS_311.connect)} and QoS 0 1→1 ${ratio(FLOORS_311.qos0_1to1)} as the issue states them, the other scenarios from the 2026-11-24 table below; that table recorded connect at 0.63× (CPU 0.70×).`,
    '',
  ] : []),
  ...(v5Rows.length ? [
    '#### MQTT 5 ÷ MQTT 3.1.1, each server against itself in the same rounds',
    '',
    `| figure | ${PEERS.map((p) => peerTitle[p]).join(' | ')} |`,
    `|---|${PEERS.map(() => '---').join('|')}|`,
    ...v5Rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    receiveMaximum ? `Receive Maximum in the v5 CONNACK (the publisher keeps no more QoS 1 PUBLISHes unacknowledged): ${receiveMaximum}.` : '',
    '',
  ] : []),
  ...(otherRows.length ? [
    '#### Not protocol-dependent (token API; revocation measured with 3.1.1 clients)',
    '',
    '| figure | SignalGate | peer | ratio | target | |',
    '|---|---|---|---|---|---|',
    ...otherRows.map((r) => `| ${r.join(' | ')} |`),
    '',
  ] : []),
  'Load average (1 min) at the start of each benchmark and after each round (memory: after each server):',
  '',
  ...[['connect', connect], ['publish', publish], ['mint', mint], ['memory', memory], ['disconnect', disconnect]]
    .filter(([, r]) => r).map(([n, r]) => `- ${n} (${r.at}): ${loadOf(r)}`),
  '',
  chart.length ? '![throughput relative to bare aedes 2](results.svg)' : '',
  '',
  chart.length ? ['```', asciiChart(chart), '```'].join('\n') : '',
  '',
  ...(baRows.length ? [
    '#### Before / after (both builds in the same rounds; medians; `--before DIR`)',
    '',
    '| figure | before | after | after / before (median of rounds) | SignalGate / aedes 2 before → after | load (1 min) |',
    '|---|---|---|---|---|---|',
    ...baRows.map((r) => `| ${r.join(' | ')} |`),
    '',
  ] : []),
  '<!-- results:end -->',
].join('\n');

const mdPath = path.join(benchDir, 'RESULTS.md');
const existing = fs.existsSync(mdPath) ? fs.readFileSync(mdPath, 'utf8') : '# Benchmark results\n\n<!-- results:begin -->\n<!-- results:end -->\n';
const begin = existing.indexOf('<!-- results:begin');
const end = existing.indexOf('<!-- results:end -->');
const md = begin >= 0 && end > begin
  ? existing.slice(0, begin) + generated + existing.slice(end + '<!-- results:end -->'.length)
  : `${existing}\n${generated}\n`;
fs.writeFileSync(mdPath, md);
if (chart.length) fs.writeFileSync(path.join(benchDir, 'results.svg'), svgChart(chart) + '\n');
console.log(`wrote ${mdPath}${chart.length ? ' and bench/results.svg' : ''}`);
