/**
 * Progress is data: the engine reports what happens as typed events and never prints. The CLI
 * turns them into JSON lines or a progress bar; a daemon could send them to a dashboard.
 */
export type EngineEvent =
  | { event: 'hashing', file: string, bytes: number, total: number }
  | { event: 'hashed', files: number, cached: number, bytes: number, seconds: number }
  | { event: 'announced', cid: string, peers: number }
  | { event: 'warning', message: string }
  | { event: 'manifest', cid: string, name: string, publisher: string, files: number, bytes: number, path: string }
  | { event: 'progress', bytes: number, total: number, downloaded: number, peers: number }
  | { event: 'peer-dropped', peerId: string, reason: string, connected: boolean }
  | { event: 'file-done', path: string, cid: string }

export type EventSink = (event: EngineEvent) => void
