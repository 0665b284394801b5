// Access control: the org default rule set and named rule sets (publish/subscribe filter lists,
// validated as you type by the server's own ruleFilterProblem), integrations bound to rule sets,
// and a "test a topic" box explaining which layer and filter decide.
import { useState } from 'preact/hooks';
import { ruleFilterProblem } from '../../../shared/src/acl/ruleFilter.js';
import { api, orgPath } from '../api.js';
import type { PageProps } from '../main.js';
import { ActionButton, Empty, Notice, Section, Time, useData } from '../ui.js';

interface RuleSet {
  rule_set_id: string; name: string; is_default: boolean; publish: string[]; subscribe: string[];
  presence: boolean; history: boolean; deny_publish: string[]; deny_subscribe: string[]; created_at: string; updated_at: string;
}
interface Integration { integration_id: string; rule_set_id: string; rule_set: string | null; description: string | null; created_at: string }
interface Rules { publish: string[]; subscribe: string[]; presence: boolean; history: boolean; deny_publish: string[]; deny_subscribe: string[] }

const PLACEHOLDERS = ['${user_id}', '${user_email}', '${client_id}'];

/** Problems of a filter list, by index; an empty row is a problem too (the server refuses it). */
const problemsOf = (filters: string[]) => filters.map((f) => ruleFilterProblem(f));

function FilterList({ label, filters, onChange, testid, emptyText = 'No filters: this action is denied.' }: { label: string; filters: string[]; onChange: (f: string[]) => void; testid: string; emptyText?: string }) {
  const [focused, setFocused] = useState<number | null>(null);
  const problems = problemsOf(filters);
  const set = (i: number, v: string) => onChange(filters.map((f, j) => (j === i ? v : f)));
  const insert = (p: string) => {
    const i = focused ?? filters.length - 1;
    if (i < 0) return onChange([p]);
    set(i, `${filters[i] ?? ''}${p}`);
  };
  return (
    <fieldset class="filters" data-testid={testid}>
      <legend>{label}</legend>
      {filters.length === 0 && <p class="muted small">{emptyText}</p>}
      {filters.map((f, i) => (
        <div class="filter-row" key={i}>
          <input
            class={`mono ${f !== '' && problems[i] ? 'invalid' : ''}`}
            value={f}
            aria-label={`${label} filter ${i + 1}`}
            aria-invalid={f !== '' && problems[i] ? 'true' : 'false'}
            placeholder="e.g. chat/#"
            onFocus={() => setFocused(i)}
            onInput={(e) => set(i, (e.target as HTMLInputElement).value)}
          />
          <button type="button" class="btn btn-plain btn-small" aria-label="Remove filter" onClick={() => onChange(filters.filter((_, j) => j !== i))}>✕</button>
          {f !== '' && problems[i] && <div class="field-error" role="alert">{problems[i]}</div>}
        </div>
      ))}
      {filters.some((f) => f === '') && <p class="muted small">Fill in or remove empty rows to save.</p>}
      <div class="filter-tools">
        <button type="button" class="btn btn-plain btn-small" onClick={() => { onChange([...filters, '']); setFocused(filters.length); }}>+ Add filter</button>
        <span class="muted small">Insert:</span>
        {PLACEHOLDERS.map((p) => (
          <button type="button" key={p} class="chip" onMouseDown={(e) => e.preventDefault()} onClick={() => insert(p)}>{p}</button>
        ))}
      </div>
    </fieldset>
  );
}

function RulesEditor({ initial, onSave, saveLabel, nameField }: { initial: Rules; onSave: (r: Rules, name: string) => Promise<unknown>; saveLabel: string; nameField?: boolean }) {
  const [rules, setRules] = useState<Rules>(initial);
  const [name, setName] = useState('');
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const invalid = [rules.publish, rules.subscribe, rules.deny_publish, rules.deny_subscribe].flatMap(problemsOf).some((p) => p !== null);
  const nameProblem = nameField && !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/.test(name) ? 'use 1-100 letters, digits, and . _ : -' : null;
  return (
    <div class="rules-editor">
      {nameField && (
        <label class="field">
          <span>Name</span>
          <input aria-label="Rule set name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} placeholder="e.g. support-widget" />
          {name && nameProblem && <div class="field-error">{nameProblem}</div>}
        </label>
      )}
      <div class="two-col">
        <FilterList label="Publish" testid="publish-filters" filters={rules.publish} onChange={(publish) => setRules({ ...rules, publish })} />
        <FilterList label="Subscribe" testid="subscribe-filters" filters={rules.subscribe} onChange={(subscribe) => setRules({ ...rules, subscribe })} />
      </div>
      <div class="two-col">
        <FilterList label="Deny publish" testid="deny-publish-filters" emptyText="Nothing denied." filters={rules.deny_publish}
          onChange={(deny_publish) => setRules({ ...rules, deny_publish })} />
        <FilterList label="Deny subscribe" testid="deny-subscribe-filters" emptyText="Nothing denied: a subscription reaching one of these topics is refused."
          filters={rules.deny_subscribe} onChange={(deny_subscribe) => setRules({ ...rules, deny_subscribe })} />
      </div>
      <div class="checks">
        <label><input type="checkbox" checked={rules.presence} onChange={(e) => setRules({ ...rules, presence: (e.target as HTMLInputElement).checked })} /> Presence (who is online, via <code>$presence/…</code>)</label>
        <label><input type="checkbox" checked={rules.history} onChange={(e) => setRules({ ...rules, history: (e.target as HTMLInputElement).checked })} /> History (read recent messages)</label>
      </div>
      <div class="row-end">
        {msg && <span class={msg.kind === 'ok' ? 'ok-text' : 'error-text'}>{msg.text}</span>}
        <ActionButton
          kind="primary"
          disabled={invalid || Boolean(nameProblem)}
          onError={(text) => setMsg({ kind: 'error', text })}
          onClick={async () => {
            await onSave(rules, name);
            setMsg({ kind: 'ok', text: 'Saved.' });
            if (nameField) {
              setName('');
              setRules(initial);
            }
          }}
        >
          {saveLabel}
        </ActionButton>
      </div>
    </div>
  );
}

const rulesOf = (r: RuleSet): Rules => ({
  publish: r.publish, subscribe: r.subscribe, presence: r.presence, history: r.history, deny_publish: r.deny_publish, deny_subscribe: r.deny_subscribe,
});

interface Explanation {
  allowed: boolean;
  decided_by: { layer: string | null; filter: string | null; reason: string };
  layers: { layer: string; allowed: boolean; unrestricted: boolean; filter: string | null; expanded: string | null; reason: string }[];
}

function TopicTester({ orgId, integrations }: { orgId: string; integrations: Integration[] }) {
  const [form, setForm] = useState({ user: '', client_id: '', integration_id: '', action: 'publish', topic: '' });
  const [result, setResult] = useState<Explanation | null>(null);
  const [error, setError] = useState<string | null>(null);
  const upd = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  const test = async () => {
    setError(null);
    const body: Record<string, string> = { action: form.action, topic: form.topic };
    if (form.user) body.user = form.user;
    if (form.client_id) body.client_id = form.client_id;
    if (form.integration_id) body.integration_id = form.integration_id;
    setResult(await api.post<Explanation>(orgPath(orgId, 'acl', 'explain'), body));
  };
  return (
    <div class="tester">
      <div class="tester-grid">
        <label class="field"><span>User (id or email)</span><input aria-label="Test user" value={form.user} onInput={upd('user')} placeholder="user-123" /></label>
        <label class="field"><span>Client id (optional)</span><input aria-label="Test client id" value={form.client_id} onInput={upd('client_id')} placeholder="for ${client_id}" /></label>
        <label class="field"><span>Integration</span>
          <select aria-label="Test integration" value={form.integration_id} onChange={upd('integration_id')}>
            <option value="">(none — org default only)</option>
            {integrations.map((i) => <option key={i.integration_id} value={i.integration_id}>{i.integration_id}</option>)}
          </select>
        </label>
        <label class="field"><span>Action</span>
          <select aria-label="Test action" value={form.action} onChange={upd('action')}>
            <option value="publish">publish</option>
            <option value="subscribe">subscribe</option>
          </select>
        </label>
        <label class="field grow"><span>Topic</span><input class="mono" aria-label="Test topic" value={form.topic} onInput={upd('topic')} placeholder="chat/room1" /></label>
        <div class="field end"><ActionButton kind="primary" onClick={test} onError={setError} disabled={!form.topic} testid="test-topic">Test</ActionButton></div>
      </div>
      {error && <Notice>{error}</Notice>}
      {result && (
        <div class={`verdict ${result.allowed ? 'allow' : 'deny'}`} data-testid="verdict">
          <div class="verdict-head">
            <strong>{result.allowed ? 'ALLOW' : 'DENY'}</strong>
            <span>
              {result.decided_by.layer ? <>decided by <b>{result.decided_by.layer}</b></> : 'decided before any rule set'}
              {result.decided_by.filter && <> — filter <code>{result.decided_by.filter}</code></>}
            </span>
          </div>
          {(!result.allowed || result.layers.length === 0) && <p>{result.decided_by.reason}</p>}
          {result.layers.length > 0 && (
            <ul class="layers">
              {result.layers.map((l) => <li key={l.layer} class={l.allowed ? 'ok' : 'no'}>{l.allowed ? '✓' : '✗'} {l.reason}</li>)}
            </ul>
          )}
        </div>
      )}
    </div>
  );
}

export function AccessPage({ orgId }: PageProps) {
  const rules = useData(() => api.get<{ rule_sets: RuleSet[] }>(orgPath(orgId, 'rules')), [orgId]);
  const ints = useData(() => api.get<{ integrations: Integration[] }>(orgPath(orgId, 'integrations')), [orgId]);
  const [fail, setFail] = useState<string | null>(null);
  const [newInt, setNewInt] = useState({ integration_id: '', rule_set: '', description: '' });
  const [creating, setCreating] = useState(false);

  const sets = rules.data?.rule_sets ?? [];
  const def = sets.find((r) => r.is_default);
  const named = sets.filter((r) => !r.is_default);

  return (
    <>
      {fail && <Notice>{fail}</Notice>}
      {rules.error && <Notice>{rules.error}</Notice>}
      {def && (
        <Section title="Organization default rules" hint="The upper bound of every token in this organization. Placeholders are filled in per user and client when they connect.">
          <RulesEditor key={def.updated_at} initial={rulesOf(def)} saveLabel="Save default rules" onSave={async (r) => { await api.put(orgPath(orgId, 'rules', 'default'), r); await rules.reload(); }} />
        </Section>
      )}
      <Section
        title="Named rule sets"
        hint="Bind a rule set to an integration: tokens minted with that integration_id get the intersection of the default rules and the set."
        actions={!creating && <button type="button" class="btn btn-plain" onClick={() => setCreating(true)}>New rule set</button>}
      >
        {creating && (
          <div class="subcard" data-testid="new-rule-set">
            <div class="subcard-head">
              <h3>New rule set</h3>
              <button type="button" class="btn btn-plain btn-small" onClick={() => setCreating(false)}>Cancel</button>
            </div>
            <RulesEditor
              nameField
              initial={{ publish: [''], subscribe: [''], presence: false, history: false, deny_publish: [], deny_subscribe: [] }}
              saveLabel="Create rule set"
              onSave={async (r, name) => {
                await api.post(orgPath(orgId, 'rules'), { name, ...r });
                setCreating(false);
                await rules.reload();
              }}
            />
          </div>
        )}
        {named.length === 0 && !creating && <Empty>No named rule sets yet.</Empty>}
        {named.map((rs) => (
          <details class="subcard" key={rs.rule_set_id}>
            <summary>
              <strong>{rs.name}</strong>
              <span class="muted small"> publish {rs.publish.length} · subscribe {rs.subscribe.length}{rs.presence ? ' · presence' : ''}{rs.history ? ' · history' : ''} · updated <Time iso={rs.updated_at} /></span>
            </summary>
            <RulesEditor key={rs.updated_at} initial={rulesOf(rs)} saveLabel="Save" onSave={async (r) => { await api.put(orgPath(orgId, 'rules', rs.rule_set_id), r); await rules.reload(); }} />
            <div class="row-end">
              <ActionButton kind="danger" onError={setFail} onClick={async () => { await api.del(orgPath(orgId, 'rules', rs.rule_set_id)); await rules.reload(); }}>Delete rule set</ActionButton>
            </div>
          </details>
        ))}
      </Section>
      <Section title="Integrations" hint="An integration id is what your backend passes as integration_id when it mints a token.">
        {ints.error && <Notice>{ints.error}</Notice>}
        <form class="inline-form" onSubmit={(e) => e.preventDefault()}>
          <input aria-label="Integration id" placeholder="Integration id (e.g. web-app)" value={newInt.integration_id} onInput={(e) => setNewInt({ ...newInt, integration_id: (e.target as HTMLInputElement).value })} />
          <select aria-label="Integration rule set" value={newInt.rule_set} onChange={(e) => setNewInt({ ...newInt, rule_set: (e.target as HTMLSelectElement).value })}>
            <option value="">Rule set…</option>
            {sets.map((r) => <option key={r.rule_set_id} value={r.rule_set_id}>{r.name}{r.is_default ? ' (default)' : ''}</option>)}
          </select>
          <input aria-label="Integration description" placeholder="Description (optional)" value={newInt.description} onInput={(e) => setNewInt({ ...newInt, description: (e.target as HTMLInputElement).value })} />
          <ActionButton
            kind="primary"
            disabled={!newInt.integration_id || !newInt.rule_set}
            onError={setFail}
            testid="create-integration"
            onClick={async () => {
              await api.post(orgPath(orgId, 'integrations'), { integration_id: newInt.integration_id, rule_set: newInt.rule_set, ...(newInt.description ? { description: newInt.description } : {}) });
              setNewInt({ integration_id: '', rule_set: '', description: '' });
              await ints.reload();
            }}
          >
            Bind
          </ActionButton>
        </form>
        {ints.data && ints.data.integrations.length === 0 && <Empty>No integrations.</Empty>}
        {ints.data && ints.data.integrations.length > 0 && (
          <table data-testid="integrations-table">
            <thead><tr><th>Integration id</th><th>Rule set</th><th>Description</th><th>Created</th><th /></tr></thead>
            <tbody>
              {ints.data.integrations.map((i) => (
                <tr key={i.integration_id}>
                  <td class="mono">{i.integration_id}</td>
                  <td>{i.rule_set ?? <span class="muted">(deleted)</span>}</td>
                  <td>{i.description ?? <span class="muted">—</span>}</td>
                  <td><Time iso={i.created_at} /></td>
                  <td class="actions"><ActionButton kind="danger" onError={setFail} onClick={async () => { await api.del(orgPath(orgId, 'integrations', i.integration_id)); await ints.reload(); }}>Delete</ActionButton></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title="Test a topic" hint="Would this user be allowed? The answer names the rule set and filter that decided.">
        <TopicTester orgId={orgId} integrations={ints.data?.integrations ?? []} />
      </Section>
    </>
  );
}
