// Open sockets per client address, for a listener's 'connection' event (the raw TCP socket, before
// any TLS handshake, HTTP parse or MQTT CONNECT): ~20,000 idle sockets from one client once used up
// the process's file descriptors and both services refused everyone. Past `max` a new socket from
// that address is closed at once. The address is the socket's peer: clients behind one proxy or
// NAT share it (SIGNALGATE_MAX_CONNECTIONS_PER_IP sizes it).
import type { Socket } from 'node:net';

export class ConnectionsPerAddress {
  private readonly open = new Map<string, number>();

  /** `max` 0: no limit. */
  constructor(readonly max: number) {}

  /**
   * Counts `socket`: false, and nothing counted, when its address is at the limit. The caller calls
   * `released(socket)` when the socket closes (one 'close' listener per socket serves every count).
   */
  admit(socket: Socket): boolean {
    if (this.max === 0) return true;
    const address = socket.remoteAddress ?? '';
    const n = this.open.get(address) ?? 0;
    if (n >= this.max) return false;
    this.open.set(address, n + 1);
    return true;
  }

  /** `socket`, admitted, closed. */
  released(socket: Socket): void {
    if (this.max === 0) return;
    const address = socket.remoteAddress ?? '';
    const left = (this.open.get(address) ?? 1) - 1;
    if (left <= 0) this.open.delete(address);
    else this.open.set(address, left);
  }

  openFrom(address: string): number {
    return this.open.get(address) ?? 0;
  }
}
