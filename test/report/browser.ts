/**
 * Debian's Chromium, headless, driven by playwright-core: a page opened from a file, with every
 * request the browser makes and every console error recorded. Each launch gets a fresh profile
 * folder and the switches that stop Chromium's own background traffic, so the request log holds
 * only what the page asks for.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.PROVENANT_CHROMIUM ?? '/usr/bin/chromium';

/** The reason to skip browser tests, or false when Chromium is there. */
export const chromiumMissing: string | false = existsSync(CHROMIUM)
  ? false
  : `Chromium not found at ${CHROMIUM} (scripts/setup.sh installs Debian's chromium package)`;

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  /** Opens `file` and waits for it to load; returns the page with its logs. */
  open(file: string, options?: { colorScheme?: 'light' | 'dark' }): Promise<OpenedPage>;
  close(): Promise<void>;
}

export interface OpenedPage {
  page: Page;
  url: string;
  /** Every request the page made (URLs), the page's own first. */
  requests: string[];
  /** Console errors and uncaught exceptions. */
  errors: string[];
}

/** Launches Chromium with a new, empty profile (removed on close). */
export async function launch(viewport = { width: 1280, height: 900 }): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'provenant-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, viewport });
  return {
    context,
    async open(file, options = {}) {
      const page = await context.newPage();
      if (options.colorScheme !== undefined) await page.emulateMedia({ colorScheme: options.colorScheme });
      const requests: string[] = [];
      const errors: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      const url = pathToFileURL(file).href;
      await page.goto(url, { waitUntil: 'load' });
      return { page, url, requests, errors };
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
