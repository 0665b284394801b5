// Which broker wrote a row of the sessions table, and whether that broker is gone. A broker killed
// with SIGKILL (or a crashed container) cannot remove its rows, and the API would go on listing
// those sessions and their users as online. So a broker's id names its host and process, and a
// broker starting on the same host removes the rows of brokers whose process no longer exists — or
// whose pid is its own without being one of its own brokers (a restarted container is pid 1 again).
// Rows of other hosts, and ids from before this scheme, are left alone: they cannot be judged here
// (the API still hides them once their token expires).
import { randomUUID } from 'node:crypto';
import os from 'node:os';

const BROKER_ID = /^broker_(.+)_(\d+)_[0-9a-f-]{36}$/;

/** Brokers running in this process (several run side by side in tests). */
const ownBrokers = new Set<string>();

export function newBrokerId(): string {
  const id = `broker_${os.hostname()}_${process.pid}_${randomUUID()}`;
  ownBrokers.add(id);
  return id;
}

export function releaseBrokerId(id: string): void {
  ownBrokers.delete(id);
}

export function isDeadBroker(id: string): boolean {
  const m = BROKER_ID.exec(id);
  if (!m || m[1] !== os.hostname()) return false;
  const pid = Number(m[2]);
  if (pid === process.pid) return !ownBrokers.has(id);
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
