/**
 * The daemon's Prometheus metrics: libp2p's own (through @libp2p/prometheus-metrics, with the
 * process's default metrics) and p2pweights' per-model counters, all in one prom-client
 * Registry of its own (not prom-client's global one, so several can live in one process).
 * Per-model values are read from the daemon when Prometheus scrapes, never pushed.
 */
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { Counter, Gauge, Registry } from 'prom-client'
import type { Daemon } from './daemon.js'

export type MetricsSource = Pick<Daemon, 'modelStats' | 'status'>

export interface MetricsOptions {
  /** Where libp2p's nodejs_fs_usage_bytes looks (default: the working directory); the data dir is best. */
  statfsLocation?: string
}

export interface DaemonMetrics {
  /** For createLibp2p's `metrics` option (EngineOptions.metrics). */
  libp2p: ReturnType<typeof prometheusMetrics>
  registry: Registry
  /** Where the per-model metrics come from; until called they are empty. */
  attach: (daemon: MetricsSource) => void
  /** The Prometheus text exposition (format 0.0.4). Safe to pass unbound. */
  render: () => Promise<string>
}

type ModelStat = ReturnType<MetricsSource['modelStats']>[number]

const MODEL_COUNTERS: Array<{ name: string, help: string, value: (s: ModelStat) => number }> = [
  { name: 'p2pweights_model_uploaded_bytes_total', help: 'Bytes of this model served to peers since the daemon started', value: s => s.uploaded },
  { name: 'p2pweights_model_downloaded_bytes_total', help: 'Bytes of this model received from peers since the daemon started', value: s => s.downloaded },
  { name: 'p2pweights_model_chunks_verified_total', help: 'Chunks of this model received and verified since the daemon started', value: s => s.chunksVerified },
  { name: 'p2pweights_model_chunks_failed_total', help: 'Chunks of this model that failed verification (the sender was banned) since the daemon started', value: s => s.chunksFailed }
]

export function createMetrics (options: MetricsOptions = {}): DaemonMetrics {
  const registry = new Registry()
  let source: MetricsSource | undefined

  for (const { name, help, value } of MODEL_COUNTERS) {
    new Counter({
      name,
      help,
      labelNames: ['cid', 'name'],
      registers: [registry],
      collect () {
        // Counters hold what the daemon counts; a removed model's series disappears.
        this.reset()
        for (const s of source?.modelStats() ?? []) this.inc({ cid: s.cid, name: s.name }, Math.max(0, value(s)))
      }
    })
  }
  new Gauge({
    name: 'p2pweights_peers',
    help: 'Open libp2p connections',
    registers: [registry],
    collect () { if (source != null) this.set(source.status().connections) }
  })
  new Gauge({
    name: 'p2pweights_models',
    help: 'Models the daemon seeds or fetches',
    registers: [registry],
    collect () { if (source != null) this.set(source.status().models) }
  })

  let libp2pCreated = false
  const libp2p: DaemonMetrics['libp2p'] = components => {
    // @libp2p/prometheus-metrics keeps its metric objects in a module-wide map: the first node
    // of this registry starts it afresh and adds the process metrics; a later node (an engine
    // restarted in the same process) reuses them, as registering a name twice would throw.
    const init = libp2pCreated
      ? { registry, collectDefaultMetrics: false, preserveExistingMetrics: true }
      : { registry, statfsLocation: options.statfsLocation }
    libp2pCreated = true
    return prometheusMetrics(init)(components)
  }

  return {
    libp2p,
    registry,
    attach: daemon => { source = daemon },
    render: async () => await registry.metrics()
  }
}
