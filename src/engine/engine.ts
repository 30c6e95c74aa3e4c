/**
 * The composition root: one Engine per process builds the libp2p node, the chunk server, the
 * announcer and the registry of what this node serves, starts them in order and stops them in
 * reverse. The CLI (and later the daemon) is a thin shell over seed() and fetch().
 */
import { CID } from 'multiformats/cid'
import { InvalidCidError } from './errors.js'
import { fetchRelease, type FetchOptions, type FetchSummary } from './fetch.js'
import { seedFolder, type SeedOptions } from './seed.js'
import { Announcer } from '../discovery/announcer.js'
import { createNode, type P2PNode } from '../net/node.js'
import { DataDir } from '../store/data-dir.js'
import { loadOrCreateKeyFile } from '../store/keys.js'
import { ChunkServer } from '../swarm/server.js'
import type { EventSink } from './events.js'
import type { Release } from '../manifest/signed.js'
import type { ChunkSource } from '../store/chunk-source.js'

export interface EngineOptions {
  dataDir: string
  listen?: string[]
  bootstrap?: string[]
  mdns?: boolean
  dhtProtocol?: string
  onEvent?: EventSink
}

export class Engine {
  /** What this node serves, by release CID. */
  readonly sources = new Map<string, ChunkSource & { close?: () => Promise<void> }>()
  readonly announcer: Announcer
  private readonly server: ChunkServer
  private stopped = false

  private constructor (readonly node: P2PNode, readonly dataDir: DataDir, readonly emit: EventSink) {
    this.server = new ChunkServer(node, this.sources)
    this.announcer = new Announcer(node.services.dht, {
      onAnnounced: e => emit({ event: 'announced', ...e }),
      onWarning: message => emit({ event: 'warning', message })
    })
  }

  static async create (options: EngineOptions): Promise<Engine> {
    const dataDir = new DataDir(options.dataDir)
    await dataDir.init()
    const privateKey = await loadOrCreateKeyFile(dataDir.peerKeyPath)
    const node = await createNode({
      privateKey,
      listen: options.listen,
      bootstrap: options.bootstrap,
      mdns: options.mdns,
      dhtProtocol: options.dhtProtocol
    })
    return new Engine(node, dataDir, options.onEvent ?? (() => {}))
  }

  async start (): Promise<void> {
    await this.server.start()
    await this.node.start()
    this.announcer.start()
  }

  /** Stops in reverse order of start; safe to call twice. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.announcer.stop()
    await this.server.stop()
    await this.node.stop()
    await Promise.all([...this.sources.values()].map(async s => await s.close?.()))
    this.sources.clear()
  }

  get peerId (): string {
    return this.node.peerId.toString()
  }

  /** Full addresses others can dial, each ending in /p2p/<peer id>. */
  get addrs (): string[] {
    return this.node.getMultiaddrs().map(a => a.toString())
  }

  async seed (folder: string, options: SeedOptions = {}): Promise<Release> {
    return await seedFolder(this, folder, options)
  }

  async fetch (cid: string, options: FetchOptions = {}): Promise<FetchSummary> {
    return await fetchRelease(this, parseCid(cid), options)
  }
}

export function parseCid (text: string): CID {
  try {
    return CID.parse(text.trim())
  } catch (err: any) {
    throw new InvalidCidError(`"${text}" is not a CID (${err.message}); use the CID that \`p2pweights seed\` printed, e.g. bafyrei…`)
  }
}
