// Pieces every noun's commands share: the --json flag and the org lookup that turns a mistyped id
// into a clear "not found" before anything else runs.
import type { Command } from 'commander';
import type { Org, Services, User } from '@signalgate/shared';

export interface JsonOption {
  json?: boolean;
}

/** How CLI actions are told apart from API calls in the audit trail. */
export const CLI_AUDIT_CONTEXT = { userAgent: 'signalgate-cli' } as const;

/** Adds the --json flag to a verb. */
export const withJson = (cmd: Command) => cmd.option('--json', 'print one JSON object (for scripts)');

/** Ends the command as a usage error (exit 2), with commander's `error:` prefix and hint. */
export function usageError(cmd: Command, message: string): never {
  cmd.error(`error: ${message}`, { exitCode: 2, code: 'signalgate.usage' });
}

/** Rejects with organization_not_found unless the org exists. */
export const requireOrg = (services: Services, orgId: string): Promise<Org> => services.orgs.get(orgId);

/** The users of `orgId` that rows of a list name, by user_ref: one read for the whole list, not one per row. */
export async function usersByRef(services: Services, orgId: string, rows: readonly { userRef: string }[]): Promise<Map<string, User>> {
  const users = await services.store.users.byRefs(orgId, [...new Set(rows.map((r) => r.userRef))]);
  return new Map(users.map((u) => [u.userRef, u]));
}
