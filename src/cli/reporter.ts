/**
 * Turns engine events into output. With --json: one JSON object per line on stdout, nothing
 * else there. Otherwise: a progress bar on stderr when it is a terminal, a quiet line every few
 * seconds when it is not, and warnings as `warning:` lines. Every line is sanitised (peer text:
 * release names, paths, error reasons) so that nothing a peer sends acts on the terminal.
 */
import { SingleBar, Presets } from 'cli-progress'
import { safeJson, sanitizeText } from '../util/terminal-text.js'
import { flatEvent, type EngineEvent, type FetchProgressEvents, type SeedProgressEvents } from '../engine/events.js'

const QUIET_LINE_INTERVAL = 5000
const JSON_PROGRESS_INTERVAL = 200

export class Reporter {
  private bar?: SingleBar
  private barKind?: 'hashing' | 'progress'
  private lastLine = 0
  private lastJsonProgress = 0
  private readonly started = Date.now()

  constructor (readonly json: boolean, private readonly tty = process.stderr.isTTY === true) {}

  /** For JSON mode: a final or one-off result line. */
  result (obj: Record<string, unknown>): void {
    if (this.json) process.stdout.write(safeJson(obj) + '\n')
  }

  info (text: string): void {
    if (this.json) return
    this.stopBar()
    process.stderr.write(sanitizeText(text, { keepNewlines: true }) + '\n')
  }

  /** One line: a peer's text inside a warning cannot start a line of its own. */
  warn (text: string): void {
    this.stopBar()
    process.stderr.write(`warning: ${sanitizeText(text)}\n`)
  }

  error (text: string): void {
    this.stopBar()
    process.stderr.write(`error: ${sanitizeText(text, { keepNewlines: true })}\n`)
  }

  /** The `onProgress` of a seed or fetch: printed as its flat event. */
  onProgress = (e: SeedProgressEvents | FetchProgressEvents): void => {
    this.on(flatEvent(e))
  }

  on = (e: EngineEvent): void => {
    if (e.event === 'warning') { this.warn(e.message); this.result(e); return }
    if (e.event === 'peer-dropped') {
      // A peer we never reached (a stale DHT record, an offline seeder) is routine, not a warning.
      if (e.connected) this.warn(`dropped peer ${e.peerId}: ${e.reason}`)
      this.result(e)
      return
    }
    if (this.json) {
      // Progress is throttled; everything else is printed as it comes.
      if (e.event === 'progress' || e.event === 'hashing') {
        const now = Date.now()
        if (now - this.lastJsonProgress < JSON_PROGRESS_INTERVAL && e.bytes < e.total) return
        this.lastJsonProgress = now
      }
      this.result(e)
      return
    }
    switch (e.event) {
      case 'hashing': this.progress('hashing', e.bytes, e.total, sanitizeText(e.file)); break
      case 'progress': this.progress('progress', e.bytes, e.total, `${e.peers} peer(s)`); break
      case 'manifest': this.info(`release ${sanitizeText(e.name)}: ${e.files} file(s), ${formatBytes(e.bytes)}, signed by ${e.publisher}\n  into ${sanitizeText(e.path)}`); break
      case 'announced': if (!this.tty || this.bar == null) this.info(`announced ${e.cid} to ${e.peers} DHT peer(s)`); break
      case 'hashed': this.info(`hashed ${e.files} file(s), ${formatBytes(e.bytes)} in ${e.seconds.toFixed(1)} s${e.cached > 0 ? ` (${e.cached} from the cache)` : ''}`); break
      case 'file-done': break
      case 'name-updated': this.info(`name ${e.publisher}/${e.name} is now version ${e.version} (${e.release ?? 'withdrawn'})`); break
      case 'reachability': this.info(`reachable: ${e.state} (${e.reason})`); break
    }
  }

  stopBar (): void {
    this.bar?.stop()
    this.bar = undefined
    this.barKind = undefined
  }

  private progress (kind: 'hashing' | 'progress', bytes: number, total: number, detail: string): void {
    const label = kind === 'hashing' ? 'hashing ' : 'fetching'
    if (!this.tty) {
      const now = Date.now()
      if (now - this.lastLine < QUIET_LINE_INTERVAL && bytes < total) return
      this.lastLine = now
      const rate = bytes / Math.max(0.001, (now - this.started) / 1000)
      process.stderr.write(`${label} ${formatBytes(bytes)} / ${formatBytes(total)} (${percent(bytes, total)}) ${formatBytes(rate)}/s ${sanitizeText(detail)}\n`)
      return
    }
    if (this.barKind !== kind) {
      this.stopBar()
      this.bar = new SingleBar({
        format: `${label} [{bar}] {percentage}% | {done} / {size} | {rate}/s | ETA {eta_formatted} | {detail}`,
        hideCursor: true,
        etaBuffer: 50,
        stream: process.stderr
      }, Presets.shades_classic)
      this.bar.start(Math.max(total, 1), 0, { done: '0', size: formatBytes(total), rate: '0', detail })
      this.barKind = kind
    }
    const rate = bytes / Math.max(0.001, (Date.now() - this.started) / 1000)
    this.bar?.update(bytes, { done: formatBytes(bytes), rate: formatBytes(rate), detail })
  }
}

export function formatBytes (n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`
  return `${n} B`
}

function percent (a: number, b: number): string {
  return b === 0 ? '100%' : `${((100 * a) / b).toFixed(1)}%`
}
