/**
 * The daemon's Prometheus metrics: per-model counters read from the daemon at scrape time, the
 * node gauges, libp2p's metrics in the same (non-global) registry, and the text served at
 * GET /metrics.
 */
import { register as globalRegistry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { createMetrics, type MetricsSource } from '../../../src/daemon/metrics.js'
import { call, closeAll, start } from './api-fixture.js'
import { CID, FakeService, OTHER_CID, STATUS } from './fake-service.js'
import type { ComponentLogger } from '@libp2p/interface'

afterEach(closeAll)

type Stat = ReturnType<MetricsSource['modelStats']>[number]

function source (stats: Stat[], connections = 3): MetricsSource {
  return {
    modelStats: () => stats,
    status: () => ({ ...STATUS, connections, models: stats.length })
  }
}

const A: Stat = { cid: CID, name: 'tiny-llama', uploaded: 1234, downloaded: 99, chunksVerified: 7, chunksFailed: 1 }
const B: Stat = { cid: OTHER_CID, name: 'other "quoted" model', uploaded: 0, downloaded: 5, chunksVerified: 2, chunksFailed: 0 }

describe('createMetrics', () => {
  it('renders each model\'s counters and the node gauges from the attached daemon', async () => {
    const metrics = createMetrics()
    metrics.attach(source([A, B]))
    const text = await metrics.render()
    expect(text).toContain(`p2pweights_model_uploaded_bytes_total{cid="${CID}",name="tiny-llama"} 1234`)
    expect(text).toContain(`p2pweights_model_downloaded_bytes_total{cid="${CID}",name="tiny-llama"} 99`)
    expect(text).toContain(`p2pweights_model_chunks_verified_total{cid="${CID}",name="tiny-llama"} 7`)
    expect(text).toContain(`p2pweights_model_chunks_failed_total{cid="${CID}",name="tiny-llama"} 1`)
    expect(text).toContain(`p2pweights_model_downloaded_bytes_total{cid="${OTHER_CID}",name="other \\"quoted\\" model"} 5`)
    expect(text).toMatch(/^p2pweights_peers 3$/m)
    expect(text).toMatch(/^p2pweights_models 2$/m)
    expect(text).toContain('# TYPE p2pweights_model_uploaded_bytes_total counter')
  })

  it('reads the daemon again at every scrape; a removed model\'s series goes away', async () => {
    const stats = [A, B]
    const metrics = createMetrics()
    metrics.attach(source(stats))
    expect(await metrics.render()).toContain(OTHER_CID)
    stats.pop()
    stats[0] = { ...A, uploaded: 5000 }
    const text = await metrics.render()
    expect(text).not.toContain(OTHER_CID)
    expect(text).toContain(`p2pweights_model_uploaded_bytes_total{cid="${CID}",name="tiny-llama"} 5000`)
  })

  it('renders before a daemon is attached, and render works unbound', async () => {
    const { render } = createMetrics()
    const text = await render()
    expect(text).toContain('# HELP p2pweights_peers')
    expect(text).not.toContain(CID)
  })

  it('keeps each instance in its own registry, not prom-client\'s global one', async () => {
    const one = createMetrics()
    const two = createMetrics()
    one.attach(source([A]))
    two.attach(source([B]))
    expect(await one.render()).not.toContain(OTHER_CID)
    expect(await two.render()).not.toContain(CID)
    expect(await globalRegistry.metrics()).not.toContain('p2pweights_')
  })

  it('puts libp2p\'s metrics in the same registry, and a second node does not clash', async () => {
    const metrics = createMetrics()
    const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, enabled: false })
    const components = { logger: { forComponent: () => log } as unknown as ComponentLogger }
    const libp2pMetrics = metrics.libp2p(components)
    expect(() => metrics.libp2p(components)).not.toThrow()
    libp2pMetrics.registerMetric('libp2p_test_metric', { help: 'a test' }).update(42)
    metrics.attach(source([A]))
    const text = await metrics.render()
    expect(text).toContain('libp2p_data_transfer_bytes_total')
    expect(text).toContain('nodejs_memory_usage_bytes')
    expect(text).toMatch(/^libp2p_test_metric 42$/m)
    expect(text).toContain('p2pweights_model_uploaded_bytes_total')
  })

  it('is what GET /metrics serves when the daemon passes render() as its metrics', async () => {
    const metrics = createMetrics()
    metrics.attach(source([A]))
    const service = new FakeService()
    service.metrics = metrics.render
    const { url } = await start({}, service)
    const res = await call(`${url}/metrics`, 'GET')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = await res.text()
    for (const name of ['p2pweights_model_uploaded_bytes_total', 'p2pweights_model_downloaded_bytes_total', 'p2pweights_model_chunks_verified_total', 'p2pweights_model_chunks_failed_total', 'p2pweights_peers', 'p2pweights_models']) {
      expect(text).toContain(`# TYPE ${name} `)
    }
  })
})
