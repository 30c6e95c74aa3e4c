/**
 * The engine's one API on real nodes on 127.0.0.1: seed and fetch report progress per operation
 * through `onProgress`, a seed is cancelled while it hashes (the hash threads stop, nothing is
 * saved or served), serve/unserve/status/peers agree with each other.
 */
import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { Engine } from '../../../src/engine/engine.js'
import { CancelledError, FolderChangedError, InvalidCidError } from '../../../src/engine/errors.js'
import { bytesOf, writeTree } from '../helpers.js'
import type { FetchProgressEvents, SeedProgressEvents } from '../../../src/engine/events.js'

const dirs: string[] = []
const engines: Engine[] = []

async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'p2pw-engine-'))
  dirs.push(dir)
  return dir
}

async function startEngine (): Promise<Engine> {
  const engine = await Engine.create({
    dataDir: await tempDir(),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    mdns: false,
    upnp: false,
    dhtProtocol: '/p2pweights-test/kad/1.0.0'
  })
  engines.push(engine)
  await engine.start()
  return engine
}

afterEach(async () => {
  await Promise.all(engines.splice(0).map(async e => await e.stop()))
  await Promise.all(dirs.splice(0).map(async d => await rm(d, { recursive: true, force: true })))
})

describe('Engine', () => {
  it('seeds with per-operation progress, serves, unserves, and says so in status()', async () => {
    const engine = await startEngine()
    const folder = await tempDir()
    await writeTree(folder, [{ path: 'a.bin', bytes: bytesOf(300_000, 1) }, { path: 'sub/b.bin', bytes: bytesOf(5000, 2) }])
    const events: SeedProgressEvents[] = []
    const release = await engine.seed(folder, { chunkSize: 64 * 1024, onProgress: e => events.push(e) })
    const cid = release.cid.toString()
    expect(events.some(e => e.type === 'seed:file:hashing')).toBe(true)
    const hashed = events.find(e => e.type === 'seed:hashed')
    expect(hashed?.detail).toMatchObject({ files: 2, cached: 0, bytes: 305_000 })
    expect(engine.status().served).toEqual([cid])
    expect(engine.servedFolders().map(f => [f.cid, f.folder])).toEqual([[cid, folder]])
    expect(await engine.changedFolders()).toEqual([])

    expect(await engine.unserve(cid)).toBe(true)
    expect(await engine.unserve(cid)).toBe(false)
    expect(engine.status().served).toEqual([])

    // Served again from the folder, from the hash cache, after the check against the manifest.
    const again = await engine.serve(cid, folder)
    expect(again.cid.toString()).toBe(cid)
    expect(engine.status().served).toEqual([cid])
    await expect(engine.serve('not-a-cid', folder)).rejects.toHaveProperty('name', InvalidCidError.name)
  })

  it('changedFolders() names a file changed on disk; unserve withdraws it', async () => {
    const engine = await startEngine()
    const folder = await tempDir()
    await writeTree(folder, [{ path: 'a.bin', bytes: bytesOf(20_000, 7) }, { path: 'b.bin', bytes: bytesOf(20_000, 8) }])
    const cid = (await engine.seed(folder)).cid.toString()
    await writeFile(join(folder, 'b.bin'), bytesOf(20_001, 9))
    expect(await engine.changedFolders()).toEqual([{ cid, files: [join(folder, 'b.bin')] }])
    expect(await engine.unserve(cid)).toBe(true)
    expect(await engine.changedFolders()).toEqual([])
    // Served again, the folder is checked against the release: it no longer matches.
    await expect(engine.serve(cid, folder)).rejects.toHaveProperty('name', FolderChangedError.name)
    expect(engine.status().served).toEqual([])
  })

  it('a seed cancelled while hashing stops: the hash threads end, nothing is saved or served', { timeout: 30_000 }, async () => {
    const engine = await startEngine()
    const folder = await tempDir()
    // 64 GiB sparse: minutes of hashing, no disk used.
    const handle = await open(join(folder, 'huge.bin'), 'w')
    await handle.truncate(64 * 2 ** 30)
    await handle.close()
    const controller = new AbortController()
    const events: SeedProgressEvents[] = []
    const seeding = engine.seed(folder, {
      signal: controller.signal,
      onProgress: e => {
        events.push(e)
        if (e.type === 'seed:file:hashing' && e.detail.bytes > 0) controller.abort(new CancelledError('removed while hashing'))
      }
    })
    const started = Date.now()
    await expect(seeding).rejects.toHaveProperty('name', CancelledError.name)
    expect(Date.now() - started).toBeLessThan(20_000)
    const seen = events.length
    await new Promise(resolve => setTimeout(resolve, 1000))
    expect(events.length).toBe(seen) // no hashing after the abort
    expect(events.some(e => e.type === 'seed:hashed')).toBe(false)
    expect(engine.status().served).toEqual([])
    expect(await readdir(join(engine['dataDir'].root, 'releases'))).toEqual([])
  })

  it('an already aborted signal refuses the seed before any hashing', async () => {
    const engine = await startEngine()
    const folder = await tempDir()
    await writeTree(folder, [{ path: 'a.bin', bytes: bytesOf(1000, 3) }])
    const events: SeedProgressEvents[] = []
    await expect(engine.seed(folder, { signal: AbortSignal.abort(new CancelledError()), onProgress: e => events.push(e) }))
      .rejects.toHaveProperty('name', CancelledError.name)
    expect(events.filter(e => e.type === 'seed:hashed')).toEqual([])
    expect(engine.status().served).toEqual([])
  })

  it('fetches from a peer with per-operation progress, then lists it among peers()', { timeout: 60_000 }, async () => {
    const seeder = await startEngine()
    const fetcher = await startEngine()
    const folder = await tempDir()
    const a = bytesOf(200_000, 4)
    await writeTree(folder, [{ path: 'a.bin', bytes: a }])
    const release = await seeder.seed(folder, { chunkSize: 16 * 1024 })
    const out = join(await tempDir(), 'out')
    const events: FetchProgressEvents[] = []
    const summary = await fetcher.fetch(release.cid.toString(), { outDir: out, peers: seeder.addrs, onProgress: e => events.push(e) })
    expect(Buffer.compare(await readFile(join(out, 'a.bin')), a)).toBe(0)
    expect(summary).toMatchObject({ cid: release.cid.toString(), bytes: a.length, publisher: release.publisher })
    expect(events[0]).toMatchObject({ type: 'fetch:manifest', detail: { cid: release.cid.toString(), bytes: a.length, files: 1 } })
    const verified = events.filter(e => e.type === 'fetch:chunk:verified')
    expect(verified.at(-1)?.detail).toMatchObject({ bytes: a.length, total: a.length })
    expect(events.filter(e => e.type === 'fetch:file:done').map(e => e.detail)).toEqual([expect.objectContaining({ path: 'a.bin' })])
    expect(fetcher.peers().map(p => p.peerId)).toContain(seeder.peerId)
    expect(fetcher.status().downloaded).toBe(a.length)
    // Not kept seeding: the finished fetch is no longer served.
    expect(fetcher.status().served).toEqual([])
  })

  it('a fetch whose signal aborts gives up on the release lookup at once', { timeout: 30_000 }, async () => {
    const engine = await startEngine()
    const seeder = await startEngine()
    const folder = await tempDir()
    await writeTree(folder, [{ path: 'a.bin', bytes: bytesOf(1000, 5) }])
    const release = await seeder.seed(folder)
    await seeder.unserve(release.cid.toString()) // nobody has it: the lookup would wait 60 s
    const controller = new AbortController()
    const fetching = engine.fetch(release.cid, { outDir: join(await tempDir(), 'out'), peers: seeder.addrs, signal: controller.signal })
    setTimeout(() => controller.abort(new CancelledError('gone')), 300)
    const started = Date.now()
    await expect(fetching).rejects.toHaveProperty('name', CancelledError.name)
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it('stop() cancels the seeds and fetches in flight and returns only once they have settled', { timeout: 30_000 }, async () => {
    const engine = await startEngine()
    const seeder = await startEngine()
    const big = await tempDir()
    const handle = await open(join(big, 'huge.bin'), 'w')
    await handle.truncate(64 * 2 ** 30) // sparse: minutes of hashing
    await handle.close()
    let hashing = (): void => {}
    const hashingStarted = new Promise<void>(resolve => { hashing = resolve })
    const settled: string[] = []
    const seeding = engine.seed(big, { onProgress: e => { if (e.type === 'seed:file:hashing') hashing() } })
      .then(() => undefined, (err: Error) => err).finally(() => settled.push('seed'))
    const small = await tempDir()
    await writeTree(small, [{ path: 'a.bin', bytes: bytesOf(1000, 6) }])
    const release = await seeder.seed(small)
    await seeder.unserve(release.cid.toString()) // nobody has it: the lookup would wait 60 s
    const fetching = engine.fetch(release.cid, { outDir: join(await tempDir(), 'out'), peers: seeder.addrs })
      .then(() => undefined, (err: Error) => err).finally(() => settled.push('fetch'))
    await hashingStarted

    const started = Date.now()
    await engine.stop()
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(settled.sort()).toEqual(['fetch', 'seed'])
    expect(await seeding).toHaveProperty('name', CancelledError.name)
    expect(await fetching).toHaveProperty('name', CancelledError.name)
    expect(await readdir(join(engine['dataDir'].root, 'releases'))).toEqual([])
    await expect(engine.seed(small)).rejects.toHaveProperty('name', CancelledError.name)
  })
})
