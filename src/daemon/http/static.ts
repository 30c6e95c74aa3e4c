/**
 * The dashboard's files: a fixed list of names (nothing else under the folder is reachable),
 * read once and kept in memory, served with headers that keep the page to its own origin.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('./dashboard/', import.meta.url))

const FILES: Record<string, { file: string, type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/api.js': { file: 'api.js', type: 'text/javascript; charset=utf-8' },
  '/format.js': { file: 'format.js', type: 'text/javascript; charset=utf-8' },
  '/names.js': { file: 'names.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' }
}

export const DASHBOARD_PATHS = Object.keys(FILES)

/** Headers for every dashboard file: no framing, no foreign scripts, styles or connections. */
export const DASHBOARD_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache'
}

export interface DashboardFile { body: Buffer, type: string }

export class Dashboard {
  private readonly cache = new Map<string, Promise<Buffer>>()

  constructor (private readonly dir: string) {}

  /** The file served at `path`, undefined for a path that is not part of the dashboard. */
  async file (path: string): Promise<DashboardFile | undefined> {
    const entry = FILES[path]
    if (entry == null) return undefined
    let body = this.cache.get(entry.file)
    if (body == null) {
      body = readFile(join(this.dir, entry.file)).catch((err: NodeJS.ErrnoException) => {
        this.cache.delete(entry.file)
        throw new Error(`dashboard file ${join(this.dir, entry.file)} cannot be read (${err.code ?? err.message}); reinstall p2pweights or run "npm run build"`)
      })
      this.cache.set(entry.file, body)
    }
    return { body: await body, type: entry.type }
  }
}
