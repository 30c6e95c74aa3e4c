/**
 * The one interface `seed` and `fetch` are written against, with two backends, as js-ipfs's CLI
 * had with ipfs-core and ipfs-http-client: the engine in this process, or the daemon of the data
 * dir through its HTTP API (it then keeps seeding, and the command returns). Both report progress
 * through the same typed `onProgress` the engine takes.
 */
import { resolve } from 'node:path'
import { Engine, type EngineOptions, type FetchSummary, type NamedFetchSummary, type SeedResult } from '../engine/engine.js'
import { isNameRef } from '../names/ref.js'
import { DEFAULT_CHUNK_MIB } from './constants.js'
import { DaemonClient } from './daemon-client.js'
import type { FetchProgressEvents, ProgressOptions, SeedProgressEvents } from '../engine/events.js'
import type { AddFetchRequest, ModelInfo } from '../daemon/service.js'
import type { ReachabilityReport } from '../net/reachability.js'
import type { AbortOptions } from '@libp2p/interface'

export interface SeedRequest extends AbortOptions, ProgressOptions<SeedProgressEvents> {
  folder: string
  name?: string
  allowSymlinksInto?: string[]
  keyFile?: string
  /** Bytes. */
  chunkSize?: number
}

/** What the daemon's API takes (outDir, trust, peers, include/exclude, hfCache, allowExpired), and more. */
export interface FetchRequest extends Omit<AddFetchRequest, 'cid'>, AbortOptions, ProgressOptions<FetchProgressEvents> {
  /** A release CID, or a name `<publisher>/<org>/<model>`. */
  ref: string
  intoExisting?: boolean
  findTimeout?: number
  stallTimeout?: number
  keepSeeding?: boolean
  /** Through the daemon: wait until the fetch completes (in process a fetch always does). */
  wait?: boolean
}

export type SeedOutcome =
  | { where: 'here', release: SeedResult, peerId: string, addrs: string[], reachability: ReachabilityReport }
  | { where: 'daemon', model: ModelInfo }

export type FetchOutcome =
  /** `peerId`/`addrs`: where this process serves the release when it keeps seeding. */
  | { where: 'here', summary: FetchSummary | NamedFetchSummary, peerId: string, addrs: string[] }
  /** `done`: the model once complete, when the request waited. */
  | { where: 'daemon', model: ModelInfo, done?: ModelInfo }

export interface Backend {
  readonly where: 'here' | 'daemon'
  /** Where the work goes, for the user (the daemon's API URL, or "this process"). */
  readonly describe: string
  seed: (request: SeedRequest) => Promise<SeedOutcome>
  fetch: (request: FetchRequest) => Promise<FetchOutcome>
  /** Stops what runs in this process; safe to call twice. */
  close: () => Promise<void>
}

/** The daemon of the data dir when one runs (and `useDaemon`), else an engine in this process. */
export async function openBackend (useDaemon: boolean, options: EngineOptions): Promise<Backend> {
  const client = useDaemon ? await DaemonClient.find(options.dataDir) : undefined
  if (client != null) return new DaemonBackend(client, options.dataDir)
  return await EngineBackend.start(options)
}

export class EngineBackend implements Backend {
  readonly where = 'here'
  readonly describe = 'this process'

  private constructor (private readonly engine: Engine) {}

  static async start (options: EngineOptions): Promise<EngineBackend> {
    const engine = await Engine.create({ sharedDataDir: 'temporary-identity', ...options })
    try {
      await engine.start()
    } catch (err) {
      await engine.stop()
      throw err
    }
    return new EngineBackend(engine)
  }

  async seed (request: SeedRequest): Promise<SeedOutcome> {
    const release = await this.engine.seed(request.folder, request)
    return { where: 'here', release, peerId: this.engine.peerId, addrs: this.engine.addrs, reachability: this.engine.reachability() }
  }

  async fetch (request: FetchRequest): Promise<FetchOutcome> {
    // A name is resolved under the name rules first; a CID is fetched as is.
    const summary = isNameRef(request.ref) ? await this.engine.fetchName(request.ref, request) : await this.engine.fetch(request.ref, request)
    return { where: 'here', summary, peerId: this.engine.peerId, addrs: this.engine.addrs }
  }

  async close (): Promise<void> {
    await this.engine.stop()
  }
}

export class DaemonBackend implements Backend {
  readonly where = 'daemon'

  constructor (private readonly client: DaemonClient, private readonly dataDir: string) {}

  get describe (): string {
    return `the daemon at ${this.client.url}`
  }

  async seed (request: SeedRequest): Promise<SeedOutcome> {
    if (request.keyFile != null || (request.chunkSize != null && request.chunkSize !== DEFAULT_CHUNK_MIB * 2 ** 20)) {
      throw new Error(`a daemon is running for ${this.dataDir} and seeds with its own key and chunk size; drop --key/--chunk-size, or stop the daemon, or use another --data-dir with --no-daemon`)
    }
    const roots = request.allowSymlinksInto
    const model = await this.client.addSeed({ folder: resolve(request.folder), name: request.name, ...(roots != null ? { symlinkRoots: roots } : {}) }, request.signal)
    return { where: 'daemon', model }
  }

  async fetch (request: FetchRequest): Promise<FetchOutcome> {
    if (request.intoExisting === true) {
      throw new Error(`a daemon is running for ${this.dataDir}; --into-existing is not passed through it yet: choose an empty output folder, or stop the daemon, or use --no-daemon`)
    }
    const model = await this.client.addFetch({
      cid: request.ref,
      outDir: request.outDir == null ? undefined : resolve(request.outDir),
      trust: request.trust,
      peers: request.peers,
      ...(request.include != null ? { include: request.include } : {}),
      ...(request.exclude != null ? { exclude: request.exclude } : {}),
      ...(request.hfCache != null ? { hfCache: request.hfCache } : {}),
      ...(request.allowExpired === true ? { allowExpired: true } : {}),
      // Absent: the daemon's own --find-timeout/--stall-timeout apply.
      ...(request.findTimeout != null ? { findTimeout: request.findTimeout } : {}),
      ...(request.stallTimeout != null ? { stallTimeout: request.stallTimeout } : {})
    }, request.signal)
    if (request.wait !== true) return { where: 'daemon', model }
    return { where: 'daemon', model, done: await this.waitForModel(model.cid, request) }
  }

  async close (): Promise<void> {}

  /** Follows the daemon's events until the fetch is complete; a failure ends the wait. */
  private async waitForModel (cid: string, request: FetchRequest): Promise<ModelInfo> {
    const controller = new AbortController()
    const stop = AbortSignal.any([controller.signal, ...(request.signal != null ? [request.signal] : [])])
    try {
      for await (const event of this.client.events(stop)) {
        if (event.type === 'removed' && event.cid === cid) throw new Error(`${cid} was removed from the daemon`)
        const models = event.type === 'snapshot' ? event.models : event.type === 'model' ? [event.model] : []
        const model = models.find(m => m.cid === cid)
        if (model == null) continue
        if (model.bytes != null) {
          request.onProgress?.({ type: 'fetch:chunk:verified', detail: { cid, bytes: model.verifiedBytes, total: model.bytes, downloaded: model.downloaded, peers: model.peers } })
        }
        if (model.state === 'seeding') return model
        if (model.state === 'failed' || model.state === 'changed') {
          throw new Error(`${model.error ?? model.state}; the daemon keeps retrying, see \`p2pweights ls\``)
        }
      }
      throw new Error('the daemon closed the event stream; see `p2pweights ls`')
    } finally {
      controller.abort()
    }
  }
}
