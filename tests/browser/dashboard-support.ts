// Helpers for the dashboard browser suite: Debian's Chromium driven by playwright-core (never a
// downloaded browser), a fresh profile per launch, and the dashboard bundle built before the run.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = path.join(ROOT, 'tests/artifacts');

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Installs Debian's chromium through the repository's setup script when it is missing. */
export function ensureChromium(): void {
  if (fs.existsSync(CHROMIUM)) return;
  execFileSync('sh', [path.join(ROOT, 'scripts/ensure-chromium.sh')], { stdio: 'inherit' });
}

/** The same bundle `npm run build` makes, so the suite tests the current source. */
export function buildDashboardBundle(): void {
  execFileSync(process.execPath, [path.join(ROOT, 'dashboard/build.mjs')], { cwd: ROOT, stdio: 'pipe' });
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(label: string): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), `signalgate-chromium-${label}-`));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 860 },
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function artifactPath(name: string): string {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}
