// A private PostgreSQL for one suite: Debian's server (installed on first use by the repo's own
// script), its own cluster in a temp dir, on a free loopback port, stopped (or restarted) by the suite.
//
// Fast by construction: initdb (about 2 s) runs once per machine into a cached template dir under a
// flock; each call copies that template (28 MB, ~1000 files, into /dev/shm) and starts a postmaster
// on the copy with durability off (fsync, synchronous_commit, full_page_writes: a test cluster is
// thrown away). Measured on the 2-core box, template cached: startPostgres() 0.33-0.85 s with a
// load average of ~5 (the copy about half of it, the rest the postmaster's start), ~2 s while a
// full parallel suite runs (load ~25); newDatabase() 55-190 ms (FILE_COPY: 150-300 ms less than
// the WAL_LOG default); restart() 0.2-0.5 s; stop() ~0.1 s.
//
// The server runs as the `postgres` user (it refuses root): spawned with that uid/gid directly, so the
// child we hold is the postmaster itself and a signal reaches it, not a runuser wrapper. A watchdog
// shell (its own process group, outliving a SIGKILLed jest worker) stops the postmaster and removes
// the dir when this process is gone; the 'exit' hook does the same for an ordinary exit.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { REPO } from '../faults/support/processes.js';

/** The version Debian 12 ships: what ensure-debian-package.sh installs when no server is present. */
const DEBIAN_POSTGRES = '/usr/lib/postgresql/15/bin/postgres';

const execFileAsync = promisify(execFile);

export interface PrivatePostgres {
  /** The `postgres` database of the cluster (superuser `postgres`, trust auth on loopback). */
  url: string;
  port: number;
  /** A new empty database (a fresh name unless given); resolves with its URL. */
  newDatabase(name?: string): Promise<string>;
  /** Stops the server for good (immediate shutdown) and removes its directory. */
  stop(): Promise<void>;
  /** Stops it (fast shutdown) and starts it again on the same port; the data stays. */
  restart(): Promise<void>;
  /** Stops it (fast shutdown: every connection is cut), keeping its port and data for `up()`. */
  down(): Promise<void>;
  /** Starts it again after `down()`. */
  up(): Promise<void>;
}

/** The bin directory of the newest installed server, installing Debian's when there is none. */
export function ensurePostgres(): string {
  const installed = () => {
    try {
      return fs.readdirSync('/usr/lib/postgresql')
        .filter((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/initdb`) && fs.existsSync(`/usr/lib/postgresql/${v}/bin/postgres`))
        .sort((a, b) => Number(b) - Number(a));
    } catch {
      return [];
    }
  };
  if (installed().length === 0) {
    execFileSync('sh', [path.join(REPO, 'scripts/ensure-debian-package.sh'), DEBIAN_POSTGRES, 'postgresql'], { stdio: 'inherit', timeout: 10 * 60_000 });
  }
  const version = installed()[0];
  if (version === undefined) throw new Error('no PostgreSQL server under /usr/lib/postgresql after installing');
  return `/usr/lib/postgresql/${version}/bin`;
}

function postgresUser(): { uid: number; gid: number } {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('no postgres user (the Debian package creates it)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** initdb once per machine and server version; later calls (any process) find it done. */
function ensureTemplate(bin: string, user: { uid: number; gid: number }): string {
  const version = path.basename(path.dirname(bin));
  // 1 MB WAL segments instead of 16: the copy each call makes is 28 MB instead of 43.
  const template = path.join(os.tmpdir(), `signalgate-pg-template-${version}`);
  if (fs.existsSync(path.join(template, 'PG_VERSION'))) return template;
  // Parallel jest workers: one runs initdb, the others wait on the lock and then find it. initdb
  // writes beside the template and the rename publishes it whole, so a half-made one is never used.
  const script = `
    set -e
    [ -f "$1/PG_VERSION" ] && exit 0
    tmp="$1.tmp.$$"
    rm -rf "$tmp"; mkdir -p "$tmp"; chown "$3" "$tmp"; chmod 700 "$tmp"
    runuser -u postgres -- "$2/initdb" -D "$tmp" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync --wal-segsize=1 >/dev/null
    rm -rf "$1"; mv "$tmp" "$1"`;
  execFileSync('flock', [`${template}.lock`, 'sh', '-c', script, 'sh', template, bin, `${user.uid}:${user.gid}`], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 5 * 60_000 });
  return template;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    }).on('error', reject);
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A cluster lives in memory where there is a tmpfs: nothing of it needs to outlive the suite. */
function scratchRoot(): string {
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

let count = 0;

/** Every cluster this process started and has not stopped: removed on exit, however the suite ends. */
const cleanups = new Set<() => void>();
process.once('exit', () => {
  for (const cleanup of cleanups) cleanup();
});

export async function startPostgres(label: string): Promise<PrivatePostgres> {
  const bin = ensurePostgres();
  const user = postgresUser();
  const template = ensureTemplate(bin, user);
  const version = path.basename(path.dirname(bin));
  // Short: the Unix socket's path (in this dir) must stay under 108 bytes.
  const dir = fs.mkdtempSync(path.join(scratchRoot(), `signalgate-pg-${label.replace(/[^\w-]/g, '_').slice(0, 32)}-`));
  const dataDir = path.join(dir, 'data');
  fs.chownSync(dir, user.uid, user.gid);
  let port = 0;
  let child: ChildProcess | undefined;

  // From here on the dir is cleaned up however this process ends. The watchdog outlives it even
  // through SIGKILL (a jest worker killed mid-copy or mid-start): when it is gone, it stops the
  // postmaster and removes the dir.
  const watchdog = spawn('sh', ['-c', `
    while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done
    sleep 1
    pid=$(head -1 "$1/postmaster.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null
    sleep 2; [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$2"`, 'sh', dataDir, dir], { detached: true, stdio: 'ignore' });
  watchdog.unref();
  const onExit = () => {
    // Synchronous: the process is ending. SIGQUIT is an immediate shutdown (the postmaster takes its
    // backends with it); wait briefly for it so the directory can go.
    const pid = child?.pid;
    if (pid !== undefined && child?.exitCode === null && child.signalCode === null) {
      try { process.kill(pid, 'SIGQUIT'); } catch { /* gone */ }
      const until = Date.now() + 2000;
      while (alive(pid) && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    fs.rmSync(dir, { recursive: true, force: true });
    try { process.kill(watchdog.pid!, 'SIGKILL'); } catch { /* gone */ }
  };
  cleanups.add(onExit);
  let stderr = '';

  const launchOn = (p: number) => new Promise<boolean>((resolve, reject) => {
    stderr = '';
    const c = spawn(path.join(bin, 'postgres'), [
      '-D', dataDir, '-p', String(p), '-k', dir,
      '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200',
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
      '-c', 'shared_buffers=32MB', '-c', 'max_wal_size=256MB', '-c', 'log_min_messages=log',
    ], { uid: user.uid, gid: user.gid, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH, LANG: 'C.UTF-8' } });
    child = c;
    const timer = setTimeout(() => reject(new Error(`postgres did not start on port ${p} in 30 s:\n${stderr}`)), 30_000);
    c.stderr!.setEncoding('utf8');
    c.stderr!.on('data', (d: string) => {
      if (stderr.length < 64 * 1024) stderr += d;
      if (stderr.includes('database system is ready to accept connections')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    c.once('exit', () => {
      clearTimeout(timer);
      // Lost the port to another process between freePort() and bind: the caller picks another.
      if (/could not bind|Address already in use/.test(stderr)) resolve(false);
      else reject(new Error(`postgres exited while starting on port ${p}:\n${stderr}`));
    });
  });

  const launch = async () => {
    if (port !== 0) {
      if (!(await launchOn(port))) throw new Error(`postgres: port ${port} was taken while it was down`);
      return;
    }
    for (let attempt = 0; ; attempt++) {
      const p = await freePort();
      if (await launchOn(p)) {
        port = p;
        return;
      }
      if (attempt === 5) throw new Error(`postgres found no free port:\n${stderr}`);
    }
  };

  const halt = (signal: NodeJS.Signals) => new Promise<void>((resolve) => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
    const force = setTimeout(() => c.kill('SIGKILL'), 10_000);
    c.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    c.kill(signal);
  });

  try {
    await execFileAsync('cp', ['-a', template, dataDir]);
    // A stale pid file would make the postmaster refuse to start (a template is never started; cheap insurance).
    fs.rmSync(path.join(dataDir, 'postmaster.pid'), { force: true });
    await launch();
  } catch (err) {
    cleanups.delete(onExit);
    onExit();
    throw err;
  }

  const urlOf = (db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`;

  return {
    get url() { return urlOf('postgres'); },
    get port() { return port; },
    // PostgreSQL cuts names at 63 bytes (and the URL would then name another): the label is cut first.
    async newDatabase(name = `${label.replace(/\W/g, '_').toLowerCase().slice(0, 32)}_${process.pid}_${++count}`) {
      const client = new pg.Client({ connectionString: urlOf('postgres') });
      await client.connect();
      try {
        // FILE_COPY (15+): copies template1's few MB as files and checkpoints, which with fsync off is
        // cheaper than writing them all to the WAL (the default since 15).
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}${Number(version) >= 15 ? ' STRATEGY = FILE_COPY' : ''}`);
      } finally {
        await client.end();
      }
      return urlOf(name);
    },
    async stop() {
      await halt('SIGQUIT');
      cleanups.delete(onExit);
      onExit();
    },
    async restart() {
      await halt('SIGINT');
      await launch();
    },
    down: () => halt('SIGINT'),
    up: launch,
  };
}
