// How command results reach the terminal: one JSON object per command with --json (lists as
// {"items": [...]}), otherwise a small aligned table or a key/value block for people.

export interface Column {
  /** Field of the JSON view shown in this column. */
  key: string;
  header?: string;
}

export interface Writer {
  write(chunk: string): unknown;
}

export class Output {
  constructor(private readonly stdout: Writer, readonly json: boolean) {}

  /** One object: the JSON view as is, or `key: value` lines. `notes` are for people only. */
  record(view: Record<string, unknown>, notes: string[] = []): void {
    if (this.json) return this.line(JSON.stringify(view));
    const width = Math.max(...Object.keys(view).map((k) => k.length));
    for (const [k, v] of Object.entries(view)) this.line(`${k.padEnd(width)}  ${cell(v)}`);
    for (const n of notes) this.line(n);
  }

  list(items: Record<string, unknown>[], columns: Column[], empty = 'nothing to show'): void {
    if (this.json) return this.line(JSON.stringify({ items }));
    if (items.length === 0) return this.line(`(${empty})`);
    this.line(renderTable(items, columns));
  }

  /** Plain text for people (never printed with --json). */
  text(message: string): void {
    if (!this.json) this.line(message);
  }

  line(s: string): void {
    this.stdout.write(`${s}\n`);
  }
}

export function renderTable(items: Record<string, unknown>[], columns: Column[]): string {
  const headers = columns.map((c) => (c.header ?? c.key).toUpperCase());
  const rows = items.map((item) => columns.map((c) => cell(item[c.key])));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [fmt(headers), ...rows.map(fmt)].join('\n');
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.length === 0 ? '(none)' : v.map(String).join(' ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Epoch milliseconds as an ISO-8601 UTC string (the API's format), null stays null. */
export const isoTime = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
