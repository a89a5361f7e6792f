/**
 * The operator page: `/` (HTML), `/app.js` and `/fleet.js` (vanilla JavaScript, no build step) and `/app.css`, read once from
 * `assets/` next to this module (or, when running the compiled `dist/`, from the sources' `server/http/assets/`).
 * The page talks to the server only through the JSON API (server/http/api.ts). A strict Content-Security-Policy
 * (W3C CSP Level 3) lets it load only its own script and style.
 */
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';

/** The page's assets: route → file name and Content-Type. */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/fleet.js': { file: 'fleet.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

/** Content-Security-Policy of every page response: own script, style and API only; no framing. */
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function assetsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'assets'), path.resolve(here, '../../../server/http/assets')];
  const found = candidates.find((d) => existsSync(path.join(d, 'index.html')));
  if (!found) throw new Error(`operator page assets not found (looked in ${candidates.join(', ')})`);
  return found;
}

/**
 * Registers the page's routes on `app`.
 * @throws Error when the asset files are missing (a broken installation)
 */
export function registerPage(app: FastifyInstance): void {
  const dir = assetsDir();
  for (const [route, a] of Object.entries(ASSETS)) {
    const bytes = readFileSync(path.join(dir, a.file));
    app.get(route, { schema: { hide: true } }, async (_req, reply) => reply
      .type(a.type)
      .header('cache-control', 'no-cache')
      .header('content-security-policy', PAGE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(bytes));
  }
}
