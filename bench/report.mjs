#!/usr/bin/env node
// Turns bench/results/*.json into the tables and the chart of bench/RESULTS.md (between the
// results markers; text outside them is kept) and bench/results.svg.
//   node bench/report.mjs
import fs from 'node:fs';
import path from 'node:path';
import { benchDir, resultsDir } from './lib/env.mjs';

const read = (name) => {
  const file = path.join(resultsDir, `${name}.json`);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : null;
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
const ratio = (x) => (x === undefined || x === null ? '–' : `${Number(x).toFixed(2)}×`);
const verdict = (met) => (met === undefined ? '' : met ? '**met**' : '**missed**');
/** A rate ratio with the server-CPU ratio beside it, where the run measured CPU. */
const ratioCpu = (x, cpu) => (cpu === undefined || cpu === null ? ratio(x) : `${ratio(x)} (CPU ${ratio(cpu)})`);
const loadOf = (r) => (r ? r.load.map((l) => l.one.toFixed(2)).join(' → ') : '–');

const rows = [];
const chart = []; // { label, values: {signalgate, aedes, mosquitto} } normalised to aedes = 1
if (connect) {
  const f = connect.figures;
  rows.push(['connect + auth rate (connects/s)', num(f.signalgate.connectsPerSecond), num(f.aedes.connectsPerSecond), num(f.mosquitto.connectsPerSecond), ratioCpu(connect.ratioVsAedes, connect.cpuRatioVsAedes), '≥ 0.90× aedes', verdict(connect.target.met)]);
  if (f.signalgate.serverCpuUsPerSession !== undefined) {
    rows.push(['server CPU per session, connect + disconnect (µs)', num(f.signalgate.serverCpuUsPerSession), num(f.aedes.serverCpuUsPerSession), num(f.mosquitto.serverCpuUsPerSession), '', '', '']);
  }
  rows.push(['CONNECT→CONNACK p50 / p99 (ms)', `${num(f.signalgate.p50Ms, 1)} / ${num(f.signalgate.p99Ms, 1)}`, `${num(f.aedes.p50Ms, 1)} / ${num(f.aedes.p99Ms, 1)}`, `${num(f.mosquitto.p50Ms, 1)} / ${num(f.mosquitto.p99Ms, 1)}`, '', '', '']);
  chart.push({ label: 'connects/s', values: { signalgate: connect.ratioVsAedes, aedes: 1, mosquitto: f.mosquitto.connectsPerSecond / f.aedes.connectsPerSecond } });
}
if (publish) {
  const names = { qos0_1to1: 'QoS 0, 1→1', qos1_1to1: 'QoS 1, 1→1', qos0_1to100: 'QoS 0, 1→100', qos1_1to100: 'QoS 1, 1→100' };
  for (const [id, f] of Object.entries(publish.figures)) {
    rows.push([`publish ${names[id]} (deliveries/s)`, num(f.signalgate.deliveriesPerSecond), num(f.aedes.deliveriesPerSecond), num(f.mosquitto.deliveriesPerSecond), ratioCpu(f.ratioVsAedes, f.cpuRatioVsAedes), '≥ 0.85× aedes', verdict(f.ratioVsAedes >= 0.85)]);
    chart.push({ label: names[id], values: { signalgate: f.ratioVsAedes, aedes: 1, mosquitto: f.mosquitto.deliveriesPerSecond / f.aedes.deliveriesPerSecond } });
  }
}
if (mint) {
  const f = mint.figures;
  rows.push(['token mint over HTTP keep-alive (tokens/s)', num(f.signalgate.perSecond), `bare Express 5: ${num(f.bareExpress.perSecond)}`, '–', `${ratio(mint.ratioVsBareExpress)} bare Express`, '≥ 5,000/s', verdict(mint.target.met)]);
  rows.push(['mint latency p50 / p99 (ms)', `${num(f.signalgate.p50Ms)} / ${num(f.signalgate.p99Ms)}`, `${num(f.bareExpress.p50Ms)} / ${num(f.bareExpress.p99Ms)}`, '–', '', '', '']);
}
if (memory) {
  const f = memory.figures;
  for (const n of [1000, 10_000]) {
    if (f.signalgate[`rssMbAt${n}`] === undefined) continue;
    rows.push([`broker RSS, ${num(n)} idle authenticated connections (MB)`, num(f.signalgate[`rssMbAt${n}`], 1), num(f.aedes[`rssMbAt${n}`], 1), num(f.mosquitto[`rssMbAt${n}`], 1),
      ratio(f.signalgate[`rssMbAt${n}`] / f.aedes[`rssMbAt${n}`]), n === 10_000 ? '≤ 400 MB' : '', n === 10_000 ? verdict(memory.target.met) : '']);
  }
  rows.push(['memory per extra connection, 1k→10k (kB)', num(memory.perConnectionKb.signalgate), num(memory.perConnectionKb.aedes), num(memory.perConnectionKb.mosquitto), '', '', '']);
}
if (disconnect) {
  const r = disconnect.figures.revokeToDisconnect;
  const e = disconnect.figures.expiryToDisconnect;
  rows.push([`revoke → disconnect p50 / p99 (ms, ${r.n} sessions)`, `${num(r.p50, 1)} / ${num(r.p99, 1)}`, 'no revocation', 'no revocation', '', 'p99 ≤ 1,000 ms', verdict(disconnect.target.met)]);
  rows.push([`expiry → disconnect p50 / p99 (ms, ${e.n} sessions)`, `${num(e.p50, 1)} / ${num(e.p99, 1)}`, '–', '–', '', '', '']);
}

function svgChart(groups) {
  const colors = { signalgate: '#2b6cb0', aedes: '#a0aec0', mosquitto: '#dd6b20' };
  const barH = 12;
  const groupH = barH * 3 + 14;
  const left = 120;
  const width = 560;
  const max = Math.max(2, ...groups.flatMap((g) => Object.values(g.values)));
  const scale = (width - left - 60) / max;
  const height = groups.length * groupH + 50;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<text x="${left}" y="14" font-weight="bold">throughput relative to bare aedes (= 1.0), same run, 2 cores</text>`];
  groups.forEach((g, gi) => {
    const y0 = 26 + gi * groupH;
    out.push(`<text x="${left - 6}" y="${y0 + barH * 1.8}" text-anchor="end">${g.label}</text>`);
    Object.entries(g.values).forEach(([name, v], i) => {
      const y = y0 + i * barH;
      out.push(`<rect x="${left}" y="${y}" width="${Math.max(1, v * scale).toFixed(1)}" height="${barH - 2}" fill="${colors[name]}"/>`);
      out.push(`<text x="${(left + v * scale + 4).toFixed(1)}" y="${y + barH - 3}">${v.toFixed(2)}</text>`);
    });
  });
  const x1 = left + scale;
  out.push(`<line x1="${x1}" y1="22" x2="${x1}" y2="${height - 24}" stroke="#444" stroke-dasharray="3,3"/>`);
  const ly = height - 10;
  Object.entries(colors).forEach(([name, c], i) => {
    out.push(`<rect x="${left + i * 110}" y="${ly - 9}" width="10" height="10" fill="${c}"/><text x="${left + i * 110 + 14}" y="${ly}">${name}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

function asciiChart(groups) {
  const lines = [];
  for (const g of groups) {
    for (const [name, v] of Object.entries(g.values)) {
      lines.push(`${(name === 'signalgate' ? g.label : '').padEnd(14)} ${name.padEnd(10)} ${'█'.repeat(Math.max(1, Math.round(v * 20)))} ${v.toFixed(2)}`);
    }
  }
  return lines.join('\n');
}

// Before/after of the fixes: the build before and the build after, alternating in the same rounds.
const baRows = [];
if (connectBA?.beforeAfter) {
  const f = connectBA.figures;
  baRows.push(['connect + auth rate (connects/s)', num(f['signalgate-before'].connectsPerSecond), num(f.signalgate.connectsPerSecond), ratio(connectBA.beforeAfter.afterOverBefore),
    `${ratio(connectBA.beforeAfter.beforeRatioVsAedes)} → ${ratio(connectBA.ratioVsAedes)}`, loadOf(connectBA)]);
  if (f.signalgate.serverCpuUsPerSession !== undefined) {
    baRows.push(['server CPU per session (µs; after / before = before CPU ÷ after)', num(f['signalgate-before'].serverCpuUsPerSession), num(f.signalgate.serverCpuUsPerSession),
      ratio(connectBA.beforeAfter.cpuBeforeOverAfter), `aedes ${num(f.aedes.serverCpuUsPerSession)} µs`, '']);
  }
}
if (publishBA?.params?.before) {
  for (const [id, f] of Object.entries(publishBA.figures)) {
    baRows.push([`publish ${id} (deliveries/s)`, num(f['signalgate-before'].deliveriesPerSecond), num(f.signalgate.deliveriesPerSecond), ratio(f.afterOverBefore),
      `${ratio(f.beforeRatioVsAedes)} → ${ratio(f.ratioVsAedes)}`, loadOf(publishBA)]);
  }
}
if (mintBA?.before) {
  baRows.push(['token mint over HTTP (tokens/s)', num(mintBA.before.perSecond), num(mintBA.figures.signalgate.perSecond), ratio(mintBA.before.afterOverBefore),
    `bare Express ${num(mintBA.figures.bareExpress.perSecond)}/s`, loadOf(mintBA)]);
}

const generated = [
  '<!-- results:begin (generated by `npm run bench:report` from bench/results/*.json) -->',
  '',
  '| figure | SignalGate | bare aedes (same version, no hooks) | Mosquitto (password + ACL file) | SignalGate / aedes | target | |',
  '|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.join(' | ')} |`),
  '',
  'Load average (1 min) at the start of each benchmark and after each round:',
  '',
  ...[['connect', connect], ['publish', publish], ['mint', mint], ['memory', memory], ['disconnect', disconnect]]
    .filter(([, r]) => r).map(([n, r]) => `- ${n} (${r.at}): ${loadOf(r)}`),
  '',
  chart.length ? '![throughput relative to bare aedes](results.svg)' : '',
  '',
  chart.length ? ['```', asciiChart(chart), '```'].join('\n') : '',
  '',
  ...(baRows.length ? [
    '### Before / after the fixes (both builds in the same rounds; medians; `--before DIR`)',
    '',
    '| figure | before | after | after / before (median of rounds) | SignalGate / aedes before → after | load (1 min) |',
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
