/**
 * The daemon's name follower (src/names/follower.ts) wired to the daemon: a followed name's
 * versions are ordinary fetches into folders under followRoot(), and a version dropped by the
 * follower is removed, and its folder deleted, only if the follower itself fetched it there.
 */
import { rm } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Follower, followRoot, type FollowedVersion } from '../names/follower.js'
import { formatRef } from '../names/ref.js'
import { isInside } from '../util/real-path.js'
import type { ModelRegistry } from './registry.js'
import type { DaemonEvent } from './service.js'
import type { Engine } from '../engine/engine.js'

export interface FollowComponents {
  engine: Pick<Engine, 'resolveName' | 'provideName' | 'names'>
  registry: Pick<ModelRegistry, 'get'>
  dataDir: string
  queueFetch: (cid: string, path: string, trust: string[]) => Promise<void>
  remove: (cid: string) => Promise<void>
  emit: (event: DaemonEvent) => void
}

export function createFollower (components: FollowComponents, interval?: number): Follower {
  const { engine, registry, dataDir, emit } = components
  const root = followRoot(dataDir)
  return new Follower(dataDir, {
    resolve: async ref => {
      const record = await engine.resolveName(ref)
      await engine.provideName(record)
      return record
    },
    canonical: async ref => formatRef(await engine.names.parseRef(ref)),
    fetch: async (cid, path, trust) => { await components.queueFetch(cid, path, trust) },
    drop: async (version: FollowedVersion) => {
      // Only what the follower itself fetched: the same release seeded or fetched by hand stays.
      const entry = registry.get(version.cid)
      if (entry?.record.kind !== 'fetch' || resolve(entry.record.outDir ?? '') !== resolve(version.path)) return
      await components.remove(version.cid)
      if (isInside(resolve(version.path), root)) await rm(version.path, { recursive: true, force: true })
    },
    onChange: entry => emit({ type: 'follow', follow: entry }),
    onWarning: message => emit({ type: 'warning', message })
  }, interval)
}
