/**
 * The simulator's command line: flags to a SimConfig, a result to text.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { DEFAULT_CONFIG, MiB, SimConfigError, type Arrivals, type SimConfig } from './config.js'
import { parseLinkClasses } from './links.js'
import { formatExplain } from './explain.js'
import type { SimResult } from './report.js'

export const HELP = `usage: npm run sim -- --peers N --gib G [options]
  --arrivals flash|flash:SECONDS|poisson:RATE   all within 10 s (default), within SECONDS, or RATE peers/s
  --links FILE        link classes (JSON array, see docs/simulation.md); default: the documented mix
  --churn P           fraction of honest peers that go away once (default 0)
  --hostile F         fraction of peers that are hostile (default 0)
  --seed S            PRNG seed (default 1): the same seed gives the same run
  --origin-mbit M     the origin's link (default 1000)
  --no-initial-seeding  the origin serves as an ordinary seeder from the start
  --neighbours K      peers each peer knows besides the origin (default 50)
  --piece-chunks K    real chunks per simulated piece (default: chosen to bound the run's work)
  --no-chunk-cuts     a coarse piece request holds its buffer to the end (to measure what the cuts change)
  --no-serial-pieces  a coarse peer uploads a piece to any number of fetchers at once (to measure)
  --max-hours H       stop after H simulated hours (default 48); peers not done count as not done
  --explain           where the time of the slowest 5% went, against the middle and the fastest half
  --svg PATH          completions over time (default tmp/out/sim-N-G-seed.svg)
  --json              last line: {"peers","gib","p50","p90","p99","originUploadRatio","wastedRatio","hostile"}
Ctrl-C stops at the next simulated minute and prints the figures so far (exit 130); a second one kills.`

export function parseSimArgs (argv: string[]): { config: SimConfig, json: boolean, svg?: string } {
  const { values } = parseArgs({
    args: argv,
    options: {
      peers: { type: 'string' },
      gib: { type: 'string' },
      arrivals: { type: 'string', default: 'flash' },
      links: { type: 'string' },
      churn: { type: 'string' },
      hostile: { type: 'string' },
      seed: { type: 'string' },
      'origin-mbit': { type: 'string' },
      neighbours: { type: 'string' },
      'piece-chunks': { type: 'string' },
      'chunk-mib': { type: 'string' },
      svg: { type: 'string' },
      json: { type: 'boolean', default: false },
      explain: { type: 'boolean', default: false },
      'no-initial-seeding': { type: 'boolean', default: false },
      'no-chunk-cuts': { type: 'boolean', default: false },
      'no-serial-pieces': { type: 'boolean', default: false },
      'max-hours': { type: 'string' },
      help: { type: 'boolean', default: false }
    },
    strict: true
  })
  if (values.help) throw new SimConfigError(HELP)
  const num = (v: string | undefined, def: number, what: string): number => {
    if (v == null) return def
    const n = Number(v)
    if (!Number.isFinite(n)) throw new SimConfigError(`${what} must be a number, got "${v}"`)
    return n
  }
  const config: SimConfig = {
    ...DEFAULT_CONFIG,
    peers: num(values.peers, DEFAULT_CONFIG.peers, '--peers'),
    gib: num(values.gib, DEFAULT_CONFIG.gib, '--gib'),
    arrivals: parseArrivals(values.arrivals),
    churn: num(values.churn, 0, '--churn'),
    hostile: num(values.hostile, 0, '--hostile'),
    seed: num(values.seed, 1, '--seed'),
    originMbit: num(values['origin-mbit'], DEFAULT_CONFIG.originMbit, '--origin-mbit'),
    initialSeeding: !values['no-initial-seeding'],
    chunkCuts: !values['no-chunk-cuts'],
    serialPieces: !values['no-serial-pieces'],
    maxTimeMs: num(values['max-hours'], DEFAULT_CONFIG.maxTimeMs / 3600_000, '--max-hours') * 3600_000,
    neighbours: num(values.neighbours, DEFAULT_CONFIG.neighbours, '--neighbours'),
    pieceChunks: num(values['piece-chunks'], 0, '--piece-chunks'),
    chunkBytes: num(values['chunk-mib'], DEFAULT_CONFIG.chunkBytes / MiB, '--chunk-mib') * MiB,
    explain: values.explain
  }
  if (values.links != null) {
    let parsed: unknown
    try {
      parsed = JSON.parse(readFileSync(values.links, 'utf8'))
    } catch (err: any) {
      throw new SimConfigError(`cannot read --links ${values.links}: ${err.message}`)
    }
    config.links = parseLinkClasses(parsed)
  }
  return { config, json: values.json, svg: values.svg }
}

export function parseArrivals (text: string): Arrivals {
  const [kind, arg] = text.split(':')
  if (kind === 'flash') {
    const s = arg == null ? 10 : Number(arg)
    if (!(s >= 0)) throw new SimConfigError('--arrivals flash:SECONDS needs SECONDS >= 0')
    return { kind: 'flash', windowMs: s * 1000 }
  }
  if (kind === 'poisson') {
    const rate = Number(arg)
    if (!(rate > 0)) throw new SimConfigError('--arrivals poisson:RATE needs a rate > 0 (peers per second)')
    return { kind: 'poisson', perSecond: rate }
  }
  throw new SimConfigError(`--arrivals must be flash, flash:SECONDS or poisson:RATE, got "${text}"`)
}

export function formatResult (r: SimResult, wallSeconds: number): string {
  const f = (n: number): string => Number.isFinite(n) ? n.toFixed(0) : 'n/a'
  const pct = (n: number): string => `${(n * 100).toFixed(2)}%`
  const gb = (n: number): string => `${(n / 1e9).toFixed(2)} GB`
  const bans = Object.entries(r.hostileBanned).filter(([, v]) => v.pairs > 0).map(([k, v]) => `${k} ${v.banned}/${v.pairs}`).join(', ')
  return [
    `peers ${r.peers} (${r.honest} honest, hostile ${pct(r.hostile)}), model ${r.gib} GiB as ${r.pieces} pieces of ${r.pieceChunks} chunk(s)`,
    ...(r.pieceChunks > 1 ? [`coarse: a peer passes a piece on only once it holds all ${r.pieceChunks} chunks, so times grow with the piece size (docs/simulation.md, "What is coarsened")`] : []),
    `completed ${r.completed}/${r.honest}; time to complete p50 ${f(r.p50)} s, p90 ${f(r.p90)} s, p99 ${f(r.p99)} s (p99/p50 ${(r.p99 / r.p50).toFixed(2)})`,
    `origin upload ${r.originUploadRatio.toFixed(3)}x the model`,
    `upload per honest peer / model: p10 ${r.uploadShare.p10.toFixed(2)}, p50 ${r.uploadShare.p50.toFixed(2)}, p90 ${r.uploadShare.p90.toFixed(2)}, max ${r.uploadShare.max.toFixed(2)}, Gini ${r.uploadShare.gini.toFixed(3)}; mean by link: ${Object.entries(r.uploadByKind).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`,
    `wasted ${pct(r.wastedRatio)} (endgame ${gb(r.wasted.endgame)}, corrupt ${gb(r.wasted.corrupt)}, trickled ${gb(r.wasted.trickle)}); lost to churn ${gb(r.wasted.churn)}`,
    ...(bans !== '' ? [`hostile peers banned by the fetchers that asked them (pairs): ${bans}`] : []),
    ...(r.explain != null ? [formatExplain(r.explain)] : []),
    `${r.requests} requests (${r.busy} answered busy${r.pieceChunks > 1 ? `, ${r.cuts} ended at a chunk boundary` : ''}), ${r.events} events, ${r.simSeconds.toFixed(0)} simulated s, ${wallSeconds.toFixed(1)} s wall`
  ].join('\n')
}

