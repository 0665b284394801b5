// A private Redis for one suite: Debian's redis-server (installed on first use by the repo's own
// script), on a free loopback port, no persistence to disk, stopped (or restarted) by the suite.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO } from '../faults/support/processes.js';

const REDIS_SERVER = '/usr/bin/redis-server';

export interface PrivateRedis {
  url: string;
  port: number;
  /** Stops Redis (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
  /** Stops it and starts it again on the same port (empty unless started `durable`). */
  restart(): Promise<void>;
  /** Stops it, keeping its port and directory for `up()`. */
  down(): Promise<void>;
  /** Starts it again after `down()`. */
  up(): Promise<void>;
}

export function ensureRedis(): void {
  execFileSync('sh', [path.join(REPO, 'scripts/ensure-debian-package.sh'), REDIS_SERVER, 'redis-server'], { stdio: 'inherit', timeout: 10 * 60_000 });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    }).on('error', reject);
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => { s.destroy(); resolve(d.toString().startsWith('+PONG')); });
    s.once('error', () => resolve(false));
  });
}

/** `durable`: every write appended and fsynced (appendonly, appendfsync always), so a restart keeps the data. */
export async function startRedis({ durable = false }: { durable?: boolean } = {}): Promise<PrivateRedis> {
  ensureRedis();
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signalgate-redis-'));
  let child: ChildProcess;
  const launch = async () => {
    const persistence = durable ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--dir', dir], { stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      if (await ping(port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`redis-server did not answer on port ${port}`);
  };
  const halt = () => new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      await halt();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await halt();
      await launch();
    },
    down: halt,
    up: launch,
  };
}
