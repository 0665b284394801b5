// `signalgate start --workers N`: every core of one machine behind the same ports (node:cluster;
// the primary hands connections to the workers round-robin on Linux). The primary prepares the data
// dir once (declared state, admin key, dev organisation: so workers never race to import a key or
// create an org), then forks N workers that each run the token API and a broker; the brokers form
// one through Redis, which is why more than one worker needs SIGNALGATE_REDIS_URL. The primary
// prints one summary once every worker listens, forwards SIGINT/SIGTERM (each worker drains its
// clients with DISCONNECT 0x8B) and replaces a worker that dies.
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { SignalGateError, type Logger } from '@signalgate/shared';
import type { Launched, Summary } from './launch.js';

/** How many workers: `--workers` as given; by default one per core with Redis, else a single process. */
export function workerCount(flag: string | undefined, env: NodeJS.ProcessEnv): number {
  const redis = Boolean(env.SIGNALGATE_REDIS_URL?.trim());
  if (flag === undefined) return redis ? os.availableParallelism() : 1;
  const n = flag === 'auto' ? os.availableParallelism() : Number(flag);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new SignalGateError('invalid_request', `--workers: a number of processes from 1 to 256, or auto (got "${flag}")`);
  if (n > 1 && !redis) {
    throw new SignalGateError('invalid_request', '--workers above 1 needs SIGNALGATE_REDIS_URL: the brokers of the workers share sessions and messages through Redis');
  }
  return n;
}

type FromWorker = { summary: Summary } | { failed: string };

/** Worker deaths in a minute beyond which the primary gives up instead of forking in a loop. */
const MAX_DEATHS = 5;

/**
 * Runs the workers over the prepared data dir; resolves with the first worker's summary once all
 * of them listen. `prepared` is the primary's own launch (no listeners), stopped when all is done.
 */
export async function runWorkers(n: number, prepared: Launched, logger: Logger): Promise<Summary & { workers: number[] }> {
  const env = { ...prepared.env, SIGNALGATE_BOOTSTRAP_DEV_ORG: 'false' };
  let stopping = false;
  const fork = (): Worker => cluster.fork(env as Record<string, string>);

  const workers: Worker[] = [];
  const ready = Promise.all(Array.from({ length: n }, () => {
    const w = fork();
    workers.push(w);
    return new Promise<Summary>((resolve, reject) => {
      w.once('message', (m: FromWorker) => ('summary' in m ? resolve(m.summary) : reject(new SignalGateError('internal_error', m.failed))));
      w.once('exit', (code) => reject(new SignalGateError('internal_error', `a worker exited with ${code} while starting`)));
    });
  }));

  /** Stops every worker and the primary's own launch; exits with `code` unless null (a failed start: the caller reports why). */
  const stopAll = async (code: number | null) => {
    if (stopping) process.exit(1); // a second signal: out now
    stopping = true;
    const exited = Object.values(cluster.workers ?? {}).map((w) => new Promise<void>((resolve) => {
      if (!w || w.isDead()) return resolve();
      w.once('exit', () => resolve());
      w.process.kill('SIGTERM');
    }));
    await Promise.all(exited);
    await prepared.stop();
    if (code !== null) process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stopAll(0));

  let summaries: Summary[];
  try {
    summaries = await ready;
  } catch (err) {
    await stopAll(null).catch(() => {});
    throw err;
  }
  // From here a worker that dies is replaced (its clients reconnect to the others meanwhile), unless
  // workers keep dying: more than MAX_DEATHS a minute stops everything rather than loop.
  const deaths: number[] = [];
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    const now = Date.now();
    deaths.push(now);
    while (deaths.length > 0 && now - deaths[0]! > 60_000) deaths.shift();
    if (deaths.length > MAX_DEATHS) {
      logger.fatal({ pid: w.process.pid, code, signal, deaths: deaths.length }, 'workers keep dying: stopping');
      void stopAll(1);
      return;
    }
    logger.error({ pid: w.process.pid, code, signal }, 'worker died: starting another');
    fork();
  });
  const first = summaries[0]!;
  // Where they listen (the same for every worker) from a worker; what was prepared from the primary.
  const { data_dir, ephemeral, organizations, dev_organization_id, dev_secret_key, admin_key, state_changes } = prepared.summary;
  return { ...first, data_dir, ephemeral, organizations, dev_organization_id, dev_secret_key, admin_key, state_changes, workers: workers.map((w) => w.process.pid!) };
}

/** In a worker: tells the primary where it listens, or why it could not start. */
export function reportToPrimary(message: FromWorker): void {
  process.send?.(message);
}
