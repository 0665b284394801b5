// The real stack (token API + broker on ephemeral ports, fresh SQLite) and small helpers for SDK suites.
import { connectClient, postJson, startStack, type Stack } from '../../../tests/support/stack.js';

export { connectClient, postJson, startStack, type Stack };

export interface Org {
  orgId: string;
  secretKey: string;
}

export async function newOrg(stack: Stack, name: string): Promise<Org> {
  const { org, secretKey } = await stack.services.orgs.create(name);
  return { orgId: org.id, secretKey };
}

/** Seed 000/002's server route: mint with the key in the body, hand out `access_token` only. */
export async function mintLikeSeed002(stack: Stack, org: Org, userEmail: string, extra: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const res = await postJson(`${stack.api.url}/v2/tokens/create`, { organization_id: org.orgId, secret_key: org.secretKey, user_email: userEmail, ...extra });
  if (!res.ok) throw new Error(`mint failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, any>;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves when `predicate` holds, polling; rejects after `timeoutMs` with `what`. */
export async function eventually(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

/** Collects messages by topic. */
export class Inbox {
  readonly items: { topic: string; message: unknown }[] = [];
  readonly push = (topic: string, message: unknown) => {
    this.items.push({ topic, message });
  };
  on(topic: string): unknown[] {
    return this.items.filter((i) => i.topic === topic).map((i) => i.message);
  }
  waitFor(topic: string, count = 1, timeoutMs = 8000): Promise<void> {
    return eventually(() => this.on(topic).length >= count, `${count} message(s) on ${topic} (have ${this.on(topic).length})`, timeoutMs);
  }
}
