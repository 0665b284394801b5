// What one client address may cost the broker before its CONNECT is even read: open sockets
// (SIGNALGATE_MAX_CONNECTIONS_PER_IP, all four listeners together) and refused CONNECTs per minute
// (SIGNALGATE_CONNECT_REFUSALS_PER_IP; past it the address's new sockets are closed unread until the
// minute ends). Refusals are logged sampled per address and reason (1st, 2nd, 4th… with the count).
import type { Socket } from 'node:net';
import { ConnectionsPerAddress, FailureBudget, LogSampler, type ConnectRefusal } from '@signalgate/shared';

/**
 * Refusals that say nothing about the client (limits, load, its own socket closing) do not count
 * against its address: a busy organisation must not lock its users' addresses out.
 */
const NOT_THE_CLIENTS_FAULT: ReadonlySet<ConnectRefusal> = new Set([
  'org_connection_limit', 'org_connect_rate', 'server_busy', 'connection_closed', 'store_unavailable', 'internal_error', 'auth_failure_budget',
  // someone else holds the id: the refused client is its victim, not its attacker
  'client_id_taken',
]);

export class AddressLimits {
  private readonly sockets: ConnectionsPerAddress;
  private readonly refusals: FailureBudget;
  private readonly logSampler = new LogSampler();

  constructor(maxSocketsPerAddress: number, refusalsPerMinute: number) {
    this.sockets = new ConnectionsPerAddress(maxSocketsPerAddress);
    this.refusals = new FailureBudget(refusalsPerMinute);
  }

  /** A new socket: false (close it unread) when its address is at either limit. */
  admit(socket: Socket): boolean {
    if (this.refusals.exhausted(socket.remoteAddress ?? '', Date.now())) return false;
    return this.sockets.admit(socket);
  }

  /** An admitted socket closed. */
  released(socket: Socket): void {
    this.sockets.released(socket);
  }

  /** A CONNECT from `address` was refused; returns the occurrence number when it is one to log. */
  refused(address: string | null, reason: ConnectRefusal): number | null {
    const now = Date.now();
    if (!NOT_THE_CLIENTS_FAULT.has(reason)) this.refusals.fail(address ?? '', now);
    return this.logSampler.sample(`${address ?? ''} ${reason}`, now);
  }
}
