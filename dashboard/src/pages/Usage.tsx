// Connections and messages per second of the organisation, sampled by the brokers, as two small
// SVG charts (no chart library: a polyline and a few labels).
import { useState } from 'preact/hooks';
import { api, orgPath } from '../api.js';
import type { PageProps } from '../main.js';
import { Notice, Section, useData } from '../ui.js';

interface Usage {
  bucket_seconds: number;
  connections_now: number;
  points: { at: string; connections: number; messages_per_second: number }[];
}

const W = 640;
const H = 160;
const PAD = { l: 44, r: 8, t: 10, b: 22 };

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v)!;
}

function Chart({ title, values, times, unit, testid, headline }: { title: string; values: number[]; times: string[]; unit: string; testid: string; headline: number }) {
  const max = niceMax(Math.max(0, ...values));
  const x = (i: number) => PAD.l + (values.length <= 1 ? 0 : (i / (values.length - 1)) * (W - PAD.l - PAD.r));
  const y = (v: number) => PAD.t + (1 - v / max) * (H - PAD.t - PAD.b);
  const line = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const area = values.length > 0 ? `${PAD.l},${y(0)} ${line} ${x(values.length - 1).toFixed(1)},${y(0)}` : '';
  const fmt = (iso: string | undefined) => (iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '');
  return (
    <figure class="chart" data-testid={testid}>
      <figcaption><span>{title}</span><strong>{Number.isInteger(headline) ? headline : headline.toFixed(2)} <span class="muted small">{unit}</span></strong></figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title} over time`}>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line class="grid" x1={PAD.l} x2={W - PAD.r} y1={y(max * f)} y2={y(max * f)} />
            <text class="axis" x={PAD.l - 6} y={y(max * f) + 4} text-anchor="end">{Number.isInteger(max * f) ? max * f : (max * f).toFixed(1)}</text>
          </g>
        ))}
        {area && <polygon class="area" points={area} />}
        {line && <polyline class="line" points={line} />}
        <text class="axis" x={PAD.l} y={H - 4}>{fmt(times[0])}</text>
        <text class="axis" x={W - PAD.r} y={H - 4} text-anchor="end">{fmt(times[times.length - 1])}</text>
      </svg>
    </figure>
  );
}

export function UsagePage({ orgId }: PageProps) {
  const [minutes, setMinutes] = useState(15);
  const { data, error } = useData(() => api.get<Usage>(`${orgPath(orgId, 'usage')}?minutes=${minutes}`), [orgId, minutes], 3000);
  const times = data?.points.map((p) => p.at) ?? [];
  return (
    <Section
      title="Connections and messages"
      hint={data ? `Sampled by the brokers; one point per ${data.bucket_seconds} s. Connected now: ${data.connections_now}.` : 'Sampled by the brokers.'}
      actions={
        <select aria-label="Window" value={minutes} onChange={(e) => setMinutes(Number((e.target as HTMLSelectElement).value))}>
          <option value={5}>last 5 minutes</option>
          <option value={15}>last 15 minutes</option>
          <option value={60}>last hour</option>
          <option value={1440}>last 24 hours</option>
        </select>
      }
    >
      {error && <Notice>{error}</Notice>}
      {data && (
        <div class="charts">
          <Chart testid="chart-connections" title="Connections" unit="open now" headline={data.connections_now} values={data.points.map((p) => p.connections)} times={times} />
          {/* The newest bucket is still filling: the headline is the last complete one. */}
          <Chart testid="chart-messages" title="Messages" unit="per second" headline={data.points[data.points.length - 2]?.messages_per_second ?? 0} values={data.points.map((p) => p.messages_per_second)} times={times} />
        </div>
      )}
    </Section>
  );
}
