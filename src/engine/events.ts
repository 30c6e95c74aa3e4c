/**
 * Progress is data: the engine reports what happens and never prints. Each operation (seed,
 * fetch) takes its own `onProgress` callback of Helia's ProgressEvent shape
 * (`{ type: 'fetch:chunk:verified', detail }`), so a caller knows which operation an event is
 * about without sorting by CID. What belongs to the node, not one operation (announcements,
 * warnings, name updates, reachability), goes to the engine-wide `onEvent` of EngineOptions.
 */

/** Helia's (progress-events') shape, declared here: the engine does not depend on that package. */
export interface ProgressEvent<T extends string = string, D = unknown> {
  type: T
  detail: D
}

export interface ProgressOptions<E extends ProgressEvent = ProgressEvent> {
  onProgress?: (event: E) => void
}

export type SeedProgressEvents =
  | ProgressEvent<'seed:file:hashing', { file: string, bytes: number, total: number }>
  | ProgressEvent<'seed:hashed', { files: number, cached: number, bytes: number, seconds: number }>

/** `cid` is always the release CID. */
export type FetchProgressEvents =
  | ProgressEvent<'fetch:manifest', { cid: string, name: string, publisher: string, files: number, bytes: number, path: string }>
  | ProgressEvent<'fetch:chunk:verified', { cid: string, bytes: number, total: number, downloaded: number, peers: number }>
  | ProgressEvent<'fetch:peer:dropped', { cid: string, peerId: string, reason: string, connected: boolean }>
  | ProgressEvent<'fetch:file:done', { cid: string, path: string, fileCid: string }>

/** Events of the node as a whole. */
export type NodeEvent =
  | { event: 'announced', cid: string, peers: number, dht?: string }
  | { event: 'warning', message: string }
  | { event: 'name-updated', publisher: string, name: string, version: number, release: string | null }
  | { event: 'reachability', state: string, reason: string, relays: string[] }

export type NodeEventSink = (event: NodeEvent) => void

/**
 * The flat events the CLI prints with --json (one object per line, `event` naming it): node
 * events as they are, and each progress event under its historical name.
 */
export type EngineEvent =
  | NodeEvent
  | { event: 'hashing', file: string, bytes: number, total: number }
  | { event: 'hashed', files: number, cached: number, bytes: number, seconds: number }
  | { event: 'manifest', cid: string, name: string, publisher: string, files: number, bytes: number, path: string }
  | { event: 'progress', cid: string, bytes: number, total: number, downloaded: number, peers: number }
  | { event: 'peer-dropped', cid: string, peerId: string, reason: string, connected: boolean }
  | { event: 'file-done', cid: string, path: string, fileCid: string }

const FLAT_NAMES = {
  'seed:file:hashing': 'hashing',
  'seed:hashed': 'hashed',
  'fetch:manifest': 'manifest',
  'fetch:chunk:verified': 'progress',
  'fetch:peer:dropped': 'peer-dropped',
  'fetch:file:done': 'file-done'
} as const

/** A progress event as the flat line the CLI has always printed. */
export function flatEvent (e: SeedProgressEvents | FetchProgressEvents): EngineEvent {
  return { event: FLAT_NAMES[e.type], ...e.detail } as EngineEvent
}

/** Transfer counters of one release, since this process started. */
export interface TransferStats {
  uploaded: number
  downloaded: number
  chunksVerified: number
  chunksFailed: number
}
