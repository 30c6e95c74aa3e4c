/**
 * An in-memory DaemonService for the HTTP layer's tests: it records every call, holds a list of
 * models, and lets a test push events, make a method throw, or see who is subscribed.
 */
import { BadRequestError, ForbiddenFolderError, NotFoundError } from '../../../src/daemon/service.js'
import type { AddFetchRequest, AddSeedRequest, DaemonEvent, DaemonService, FollowEntry, FollowRequest, ModelInfo, NodeStatus, PeerSummary } from '../../../src/daemon/service.js'

export const CID = 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
export const OTHER_CID = 'bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae'

export function model (overrides: Partial<ModelInfo> = {}): ModelInfo {
  return {
    cid: CID,
    name: 'tiny-llama',
    kind: 'seed',
    state: 'seeding',
    path: '/srv/models/tiny-llama',
    publisher: '12D3KooWPublisher',
    files: 3,
    bytes: 1000,
    verifiedBytes: 1000,
    uploaded: 10,
    downloaded: 0,
    chunksVerified: 0,
    chunksFailed: 0,
    peers: 0,
    rate: { up: 0, down: 0 },
    addedAt: '2025-01-01T00:00:00.000Z',
    ...overrides
  }
}

export const STATUS: NodeStatus = {
  peerId: '12D3KooWTestNode',
  addrs: ['/ip4/127.0.0.1/tcp/4001'],
  version: '0.1.0',
  uptime: 42,
  connections: 2,
  dhtProtocol: '/ipfs/kad/1.0.0',
  reachability: { state: 'lan-only', reason: 'every address of this node is private or loopback', relays: [], upnp: true, relayService: false },
  models: 1,
  uploaded: 10,
  downloaded: 0,
  limits: { maxConnections: 100, uploadRate: 0, downloadRate: 0, allowedFolders: [] }
}

export const PEERS: PeerSummary[] = [{ peerId: '12D3KooWPeer', addrs: ['/ip4/127.0.0.1/tcp/5001'], direction: 'inbound', openFor: 3 }]

type Method = keyof DaemonService

export class FakeService implements DaemonService {
  readonly models = new Map<string, ModelInfo>([[CID, model()]])
  readonly calls: Array<{ method: Method, args: unknown[] }> = []
  readonly listeners = new Set<(event: DaemonEvent) => void>()
  /** Makes the next calls of `method` throw this error. */
  readonly failures = new Map<Method, Error>()

  private record (method: Method, ...args: unknown[]): void {
    this.calls.push({ method, args })
    const err = this.failures.get(method)
    if (err != null) throw err
  }

  called (method: Method): unknown[][] {
    return this.calls.filter(c => c.method === method).map(c => c.args)
  }

  emit (event: DaemonEvent): void {
    for (const l of this.listeners) l(event)
  }

  status (): NodeStatus { this.record('status'); return { ...STATUS, models: this.models.size } }
  list (): ModelInfo[] { this.record('list'); return [...this.models.values()] }
  get (cid: string): ModelInfo | undefined { this.record('get', cid); return this.models.get(cid) }
  peers (): PeerSummary[] { this.record('peers'); return PEERS }
  async metrics (): Promise<string> { this.record('metrics'); return '# HELP p2pweights_models Models\np2pweights_models 1\n' }

  async addSeed (req: AddSeedRequest): Promise<ModelInfo> {
    this.record('addSeed', req)
    const m = model({ cid: OTHER_CID, name: req.name ?? 'folder', path: req.folder })
    this.models.set(m.cid, m)
    return m
  }

  async addFetch (req: AddFetchRequest): Promise<ModelInfo> {
    this.record('addFetch', req)
    const m = model({ cid: req.cid, kind: 'fetch', state: 'queued', bytes: undefined, verifiedBytes: 0, path: req.outDir ?? '/data/models/…' })
    this.models.set(m.cid, m)
    return m
  }

  async remove (cid: string): Promise<boolean> {
    this.record('remove', cid)
    return this.models.delete(cid)
  }

  readonly followed = new Map<string, FollowEntry>()
  follows (): FollowEntry[] { this.record('follows'); return [...this.followed.values()] }

  async follow (req: FollowRequest): Promise<FollowEntry> {
    this.record('follow', req)
    const entry: FollowEntry = { ref: req.ref, keep: req.keep ?? 2, versions: [], warnings: [], addedAt: '2025-01-01T00:00:00.000Z' }
    this.followed.set(req.ref, entry)
    return entry
  }

  async unfollow (ref: string): Promise<boolean> {
    this.record('unfollow', ref)
    return this.followed.delete(ref)
  }

  subscribe (listener: (event: DaemonEvent) => void): () => void {
    this.record('subscribe')
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }
}

/** Named errors as the daemon's layers throw them (engine and manifest errors by name only). */
export function namedError (name: string, message: string): Error {
  const err = new Error(message)
  err.name = name
  return err
}

export { BadRequestError, ForbiddenFolderError, NotFoundError }
