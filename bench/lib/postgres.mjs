// A private PostgreSQL for a benchmark, durable: the few lines of tests/support/postgres.ts a bench
// needs, but with the server's defaults for durability left on (fsync, synchronous_commit,
// full_page_writes) and its data on the disk (os.tmpdir(), not /dev/shm: on a tmpfs an fsync costs
// nothing), so that a 200 answered after a COMMIT has waited for the WAL to reach the disk. A fresh
// cluster per run (initdb, ~2-4 s, not measured): no template is cached, so nothing is shared with
// the test suites' clusters. Debian's server (installed on first use by the repo's own script),
// run as the `postgres` user on a free loopback port, trust auth; stopped when the bench ends.
// Also what the bench reads of it: the CPU time of the whole server (postmaster and every backend
// and auxiliary process, live or already reaped) and the errors it logged (serialization failures).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { tempDir } from './env.mjs';
import { ensureDebianPackage, freePort, track } from './servers.mjs';

const DEBIAN_POSTGRES = '/usr/lib/postgresql/15/bin/postgres';

/** The bin directory of the newest installed server (Debian 12: 15), installing it when there is none. */
export function postgresBin() {
  const installed = () => (fs.existsSync('/usr/lib/postgresql') ? fs.readdirSync('/usr/lib/postgresql') : [])
    .filter((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/initdb`)).sort((a, b) => Number(b) - Number(a));
  if (installed().length === 0) ensureDebianPackage(DEBIAN_POSTGRES, 'postgresql');
  return `/usr/lib/postgresql/${installed()[0]}/bin`;
}

function postgresUser() {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('no postgres user (the Debian package creates it)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** user + system CPU ms of the postmaster, of its reaped children (cutime/cstime) and of its live ones. */
function treeCpuMs(postmasterPid) {
  const fieldsOf = (pid) => {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' '); // [0] is field 3 (state)
  };
  const own = fieldsOf(postmasterPid);
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]); // utime stime cutime cstime
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === postmasterPid) continue;
    try {
      const f = fieldsOf(entry);
      if (Number(f[1]) === postmasterPid) ticks += Number(f[11]) + Number(f[12]); // ppid, utime, stime
    } catch { /* exited meanwhile: its time is in the postmaster's cutime now */ }
  }
  return ticks * 10; // clock ticks of 10 ms
}

/**
 * Starts the server. `settings` are more `-c name=value` (they win over the defaults here); `onLog`
 * sees every line the server logs (with `log_statement: 'all'`, what a client sends).
 * Resolves with { url(db), port, pid, createDatabase(name), cpuMs(), errors(), settings(), stop() }.
 */
export async function startBenchPostgres({ label = 'bench', settings = {}, onLog = null } = {}) {
  const bin = postgresBin();
  const user = postgresUser();
  const dir = tempDir(`pg-${label}`);
  fs.chownSync(dir, user.uid, user.gid);
  const dataDir = path.join(dir, 'data');
  const init = spawnSync('runuser', ['-u', 'postgres', '--', path.join(bin, 'initdb'), '-D', dataDir, '-U', 'postgres', '--auth=trust',
    '--encoding=UTF8', '--locale=C.UTF-8'], { encoding: 'utf8', timeout: 120_000 });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const all = {
    listen_addresses: '127.0.0.1', max_connections: '300',
    fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on', // the defaults, said out loud: a COMMIT waits for the disk
    log_min_messages: 'warning', log_min_error_statement: 'panic', // ERROR lines (one per failed statement), no statement echo
    log_line_prefix: '', log_checkpoints: 'off', ...settings,
  };
  let stderr = '';
  const errorLines = [];
  let child;
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const ready = await new Promise((resolve, reject) => {
      stderr = '';
      child = track(spawn(path.join(bin, 'postgres'), ['-D', dataDir, '-p', String(port), '-k', dir, ...Object.entries(all).flatMap(([k, v]) => ['-c', `${k}=${v}`])],
        { uid: user.uid, gid: user.gid, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH, LANG: 'C.UTF-8' } }));
      const timer = setTimeout(() => reject(new Error(`postgres did not start in 30 s:\n${stderr}`)), 30_000);
      child.stderr.setEncoding('utf8');
      let partial = '';
      child.stderr.on('data', (d) => {
        if (stderr.length < 64 * 1024) stderr += d;
        partial += d;
        const lines = partial.split('\n');
        partial = lines.pop();
        for (const line of lines) {
          if (/^(ERROR|FATAL):/.test(line)) errorLines.push({ at: Date.now(), line });
          onLog?.(line);
        }
        if (stderr.includes('database system is ready to accept connections')) {
          clearTimeout(timer);
          resolve(port);
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        if (/could not bind|Address already in use/.test(stderr)) resolve(null);
        else reject(new Error(`postgres exited while starting:\n${stderr}`));
      });
    });
    if (ready) {
      const urlOf = (db) => `postgres://postgres@127.0.0.1:${ready}/${db}`;
      const admin = async (fn) => {
        const c = new pg.Client({ connectionString: urlOf('postgres') });
        await c.connect();
        try {
          return await fn(c);
        } finally {
          await c.end();
        }
      };
      const server = child;
      return {
        port: ready, pid: server.pid, bin, dataDir, url: urlOf,
        createDatabase: (name, { set = {} } = {}) => admin(async (c) => {
          await c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`);
          for (const [k, v] of Object.entries(set)) await c.query(`ALTER DATABASE ${c.escapeIdentifier(name)} SET ${k} = ${c.escapeLiteral(v)}`);
          return urlOf(name);
        }),
        admin,
        /** Everything the server process tree has used so far. */
        cpuMs: () => treeCpuMs(server.pid),
        /** ERROR/FATAL lines logged so far ({ at, line }): a serialization failure is one ERROR line. */
        errors: () => errorLines.slice(),
        settings: () => admin(async (c) => Object.fromEntries((await c.query(
          `SELECT name, setting FROM pg_settings WHERE name IN ('fsync','synchronous_commit','full_page_writes','wal_sync_method','shared_buffers','max_connections','server_version','default_transaction_isolation')`,
        )).rows.map((r) => [r.name, r.setting]))),
        stop: () => new Promise((resolve) => {
          if (server.exitCode !== null || server.signalCode !== null) return resolve();
          const force = setTimeout(() => server.kill('SIGKILL'), 10_000);
          server.once('exit', () => { clearTimeout(force); resolve(); });
          server.kill('SIGINT'); // fast shutdown
        }),
      };
    }
    if (attempt === 5) throw new Error(`postgres found no free port:\n${stderr}`);
  }
}

/** Serialization failures and deadlocks among logged error lines: each is one transaction attempt PostgreSQL refused. */
export function countRetryable(lines) {
  const out = { serialization: 0, deadlock: 0, other: 0 };
  for (const { line } of lines) {
    if (/could not serialize access/.test(line)) out.serialization++;
    else if (/deadlock detected/.test(line)) out.deadlock++;
    else out.other++;
  }
  return out;
}
