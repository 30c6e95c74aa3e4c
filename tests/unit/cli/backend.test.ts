/**
 * The CLI's one interface with two backends: the same seed and fetch, run against the engine in
 * this process and against a real daemon (Daemon + its HTTP API on 127.0.0.1, found through the
 * data dir's api.json as the CLI finds it). Both give the same release, the same bytes on disk,
 * and progress through the same typed onProgress.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DaemonBackend, EngineBackend, openBackend, type Backend } from '../../../src/cli/backend.js'
import { loadOrCreateToken, writeApiFile } from '../../../src/daemon/api-file.js'
import { Daemon } from '../../../src/daemon/daemon.js'
import { createApiServer, type ApiServer } from '../../../src/daemon/http/server.js'
import type { FetchProgressEvents } from '../../../src/engine/events.js'
import type { EngineOptions } from '../../../src/engine/engine.js'

const dirs: string[] = []
async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'p2pw-backend-'))
  dirs.push(dir)
  return dir
}

const LOCAL = { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], mdns: false, upnp: false, dhtProtocol: '/p2pweights-test/kad/1.0.0' }
const CONTENT = Buffer.from('the weights of a very small model\n'.repeat(2000))

let daemon: Daemon
let api: ApiServer
let daemonDataDir: string
let seeder: EngineBackend

beforeAll(async () => {
  daemonDataDir = await tempDir()
  daemon = await Daemon.start({ ...LOCAL, dataDir: daemonDataDir, version: 'test', limits: { maxConnections: 50, uploadRate: 0, downloadRate: 0, allowedFolders: [] } })
  const token = await loadOrCreateToken(daemonDataDir)
  api = await createApiServer(daemon, { host: '127.0.0.1', port: 0, token })
  await writeApiFile(daemonDataDir, { url: api.url, pid: process.pid, token: true })
  seeder = await EngineBackend.start({ ...LOCAL, dataDir: await tempDir() })
}, 60_000)

afterAll(async () => {
  await seeder?.close()
  await api?.close()
  await daemon?.stop()
  await Promise.all(dirs.map(async d => await rm(d, { recursive: true, force: true })))
}, 60_000)

async function modelFolder (): Promise<string> {
  const folder = await tempDir()
  await writeFile(join(folder, 'weights.bin'), CONTENT)
  return folder
}

describe('CLI backends', () => {
  it('openBackend picks the daemon of the data dir, and the engine with --no-daemon or no daemon', async () => {
    const withDaemon = await openBackend(true, { ...LOCAL, dataDir: daemonDataDir })
    expect(withDaemon).toBeInstanceOf(DaemonBackend)
    await withDaemon.close()
    const noDaemon = await openBackend(false, { ...LOCAL, dataDir: await tempDir() } satisfies EngineOptions)
    expect(noDaemon.where).toBe('here')
    await noDaemon.close()
  })

  for (const where of ['here', 'daemon'] as const) {
    it(`seed and fetch --wait give the same release and bytes (${where})`, { timeout: 60_000 }, async () => {
      const backend: Backend = where === 'here'
        ? await EngineBackend.start({ ...LOCAL, dataDir: await tempDir() })
        : await openBackend(true, { ...LOCAL, dataDir: daemonDataDir })
      try {
        expect(backend.where).toBe(where)
        const folder = await modelFolder()
        const seeded = await backend.seed({ folder })
        const cid = seeded.where === 'here' ? seeded.release.cid.toString() : seeded.model.cid
        // Each side signs with its own key (so CIDs differ): fetch a release of an independent seeder.
        const expected = (await seeder.seed({ folder })) as Extract<Awaited<ReturnType<Backend['seed']>>, { where: 'here' }>
        const out = join(await tempDir(), 'out')
        const progress: FetchProgressEvents[] = []
        const fetched = await backend.fetch({
          ref: expected.release.cid.toString(), outDir: out, peers: expected.addrs, wait: true, findTimeout: 30_000, onProgress: e => progress.push(e)
        })
        const path = fetched.where === 'here' ? fetched.summary.path : fetched.done?.path
        expect(path).toBe(out)
        expect(Buffer.compare(await readFile(join(out, 'weights.bin')), CONTENT)).toBe(0)
        const last = progress.filter(e => e.type === 'fetch:chunk:verified').at(-1)
        expect(last?.detail).toMatchObject({ cid: expected.release.cid.toString(), bytes: CONTENT.length, total: CONTENT.length })
        expect(cid).toMatch(/^bafy/)
      } finally {
        await backend.close()
      }
    })
  }

  it('fetch --find-timeout reaches the daemon: a release nobody serves fails after it, not the daemon\'s 60 s', { timeout: 30_000 }, async () => {
    const backend = await openBackend(true, { ...LOCAL, dataDir: daemonDataDir })
    const lonely = await EngineBackend.start({ ...LOCAL, dataDir: await tempDir() })
    try {
      const seeded = (await lonely.seed({ folder: await modelFolder() })) as Extract<Awaited<ReturnType<Backend['seed']>>, { where: 'here' }>
      const addrs = seeded.addrs
      await lonely.close() // gone: nobody has the release
      const started = Date.now()
      await expect(backend.fetch({ ref: seeded.release.cid.toString(), peers: addrs, wait: true, findTimeout: 1500 }))
        .rejects.toThrow(/the daemon keeps retrying/)
      expect(Date.now() - started).toBeLessThan(20_000)
    } finally {
      await lonely.close()
      await backend.close()
    }
  })

  it('the daemon backend refuses what the daemon cannot do, with the reason', async () => {
    const backend = await openBackend(true, { ...LOCAL, dataDir: daemonDataDir })
    await expect(backend.seed({ folder: await modelFolder(), keyFile: '/nonexistent.key' })).rejects.toThrow(/its own key and chunk size/)
    await expect(backend.fetch({ ref: 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', intoExisting: true })).rejects.toThrow(/--into-existing/)
  })
})
