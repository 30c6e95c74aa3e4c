/**
 * What the daemon offers its HTTP API (and so the CLI and the dashboard): the contract between
 * daemon/daemon.ts, which implements it over the engine, and daemon/http/, which serves it.
 */
import type { ScannedFile } from '../manifest/build.js'
import type { Release } from '../manifest/signed.js'
import type { ReachabilityReport } from '../net/reachability.js'
import type { AbortOptions } from '@libp2p/interface'

export type ModelKind = 'seed' | 'fetch'

/**
 * hashing: being checked or hashed; seeding: served and announced; queued: a fetch waiting to
 * start; fetching: downloading (and serving what it has); failed: stopped with `error` (a fetch
 * is retried later); changed: a seeded folder changed on disk and is no longer served.
 */
export type ModelState = 'hashing' | 'seeding' | 'queued' | 'fetching' | 'failed' | 'changed'

export interface ModelInfo {
  /** Release CID. */
  cid: string
  name: string
  kind: ModelKind
  state: ModelState
  /** The folder seeded in place, or the output folder of a fetch. */
  path: string
  publisher?: string
  files?: number
  /** Total size of the release; unknown until the manifest is known. */
  bytes?: number
  /** Bytes verified on disk. */
  verifiedBytes: number
  /** Since the daemon started. */
  uploaded: number
  downloaded: number
  chunksVerified: number
  chunksFailed: number
  /** Peers this fetch is using now. */
  peers: number
  /** Bytes per second over the last few seconds. */
  rate: { up: number, down: number }
  error?: string
  addedAt: string
}

export interface NodeStatus {
  peerId: string
  addrs: string[]
  version: string
  /** Seconds since the daemon started. */
  uptime: number
  connections: number
  dhtProtocol: string
  /** How others reach this node: public, mapped, relayed or lan-only, and why. */
  reachability: ReachabilityReport
  models: number
  /** Bytes since the daemon started, all models (also removed ones). */
  uploaded: number
  downloaded: number
  limits: DaemonLimits
}

export interface DaemonLimits {
  maxConnections: number
  /** Bytes per second, 0 = unlimited. */
  uploadRate: number
  downloadRate: number
  /** Folders under which seeds (and fetch outputs) may be placed; empty = anywhere. */
  allowedFolders: string[]
}

export interface PeerSummary {
  peerId: string
  addrs: string[]
  direction: 'inbound' | 'outbound'
  /** Seconds since the connection opened. */
  openFor: number
}

import type { FollowEntry } from '../names/follower.js'
export type { FollowEntry }

export interface FollowRequest {
  /** `<publisher-id>/<org>/<model>` or `<alias>/<org>/<model>`. */
  ref: string
  /** How many of the newest versions to keep; default 2. */
  keep?: number
}

export type DaemonEvent =
  | { type: 'model', model: ModelInfo }
  | { type: 'removed', cid: string }
  | { type: 'hashing', folder: string, bytes: number, total: number }
  | { type: 'warning', message: string }
  | { type: 'follow', follow: FollowEntry }

export interface AddSeedRequest {
  folder: string
  name?: string
  /** Folders the seeded folder's symlinks may point into (an HF cache entry's blobs/). */
  symlinkRoots?: string[]
}

export interface AddFetchRequest {
  cid: string
  /** Default: <data dir>/models/<release name>. */
  outDir?: string
  trust?: string[]
  peers?: string[]
  /** Only the files these globs select (`hf download --include/--exclude` semantics). */
  include?: string[]
  exclude?: string[]
  /** Write the release into this Hugging Face hub cache (an absolute folder). */
  hfCache?: string
  /** A name whose newest record has expired is used anyway (normally refused). */
  allowExpired?: boolean
  /** This fetch's own --find-timeout and --stall-timeout (ms), instead of the daemon's. */
  findTimeout?: number
  stallTimeout?: number
}

/** Errors the API maps to HTTP statuses (defined in errors.ts, exported here too). */
export { BadRequestError, ForbiddenFolderError, NotFoundError } from './errors.js'

export interface DaemonService {
  status: () => NodeStatus
  list: () => ModelInfo[]
  get: (cid: string) => ModelInfo | undefined
  /** Resolves once the folder is hashed and served (state seeding); `signal` cancels it while it waits or hashes. */
  addSeed: (req: AddSeedRequest, options?: AbortOptions) => Promise<ModelInfo>
  /** Resolves at once with the fetch queued or running; progress comes as events. */
  addFetch: (req: AddFetchRequest, options?: AbortOptions) => Promise<ModelInfo>
  /** Stops seeding or fetching. Never deletes a folder seeded in place. False if unknown. */
  remove: (cid: string) => Promise<boolean>
  /** Cancels the seed of a folder still waiting or hashing (it has no CID yet). False if none. */
  cancelSeed?: (folder: string) => Promise<boolean>
  peers: () => PeerSummary[]
  /** Live events; returns the unsubscribe function. */
  subscribe: (listener: (event: DaemonEvent) => void) => () => void
  /** Prometheus text exposition. */
  metrics: () => Promise<string>
  /** Releases complete and verified on disk, for the Hugging Face endpoint (`/hf`). */
  servedReleases?: () => ServedRelease[]
  /** Followed names (src/names/follower.ts). */
  follows: () => FollowEntry[]
  /** Resolves once the name was checked once (its first version queued, or the error noted). */
  follow: (req: FollowRequest) => Promise<FollowEntry>
  /** False if the name was not followed. Fetched versions stay. */
  unfollow: (ref: string) => Promise<boolean>
}

/** A release served in place: complete, verified, each held file with its identity on disk. */
export interface ServedRelease {
  cid: string
  /** The release name: the repo id on the HF endpoint. */
  name: string
  /** When this daemon got it: `main` is the newest of a name. */
  addedAt: string
  release: Release
  /** `files[i]`: file i of the manifest on disk (size, mtime, inode as verified); undefined if not held. */
  files: ReadonlyArray<ScannedFile | undefined>
}
