/**
 * Progress is data: the engine reports what happens as typed events and never prints. The CLI
 * turns them into JSON lines or a progress bar; the daemon sends them to its dashboard. `cid`
 * is always the release CID.
 */
export type EngineEvent =
  | { event: 'hashing', file: string, bytes: number, total: number }
  | { event: 'hashed', files: number, cached: number, bytes: number, seconds: number }
  | { event: 'announced', cid: string, peers: number, dht?: string }
  | { event: 'warning', message: string }
  | { event: 'manifest', cid: string, name: string, publisher: string, files: number, bytes: number, path: string }
  | { event: 'progress', cid: string, bytes: number, total: number, downloaded: number, peers: number }
  | { event: 'peer-dropped', cid: string, peerId: string, reason: string, connected: boolean }
  | { event: 'file-done', cid: string, path: string, fileCid: string }
  | { event: 'name-updated', publisher: string, name: string, version: number, release: string | null }
  | { event: 'reachability', state: string, reason: string, relays: string[] }

export type EventSink = (event: EngineEvent) => void

/** Transfer counters of one release, since this process started. */
export interface TransferStats {
  uploaded: number
  downloaded: number
  chunksVerified: number
  chunksFailed: number
}
