/**
 * Shared helpers for the unit tests. Everything expected here is computed independently of the
 * code under test (node:crypto for hashes), so a test built on these can fail.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import type { Manifest } from '../../src/manifest/manifest.js'

/** 16 KiB: the smallest chunk size a manifest allows, so test files stay small. */
export const SMALL_CHUNK = 16 * 1024

export function sha256 (bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

/** The per-chunk hash table of `bytes`, computed with node:crypto. */
export function chunkTable (bytes: Uint8Array, chunkSize: number): Uint8Array {
  const n = Math.ceil(bytes.length / chunkSize)
  const out = new Uint8Array(n * 32)
  for (let i = 0; i < n; i++) out.set(sha256(bytes.subarray(i * chunkSize, (i + 1) * chunkSize)), i * 32)
  return out
}

export interface TestFile { path: string, bytes: Uint8Array }

/** A manifest for in-memory files, built without the code under test. */
export function manifestOf (files: TestFile[], chunkSize = SMALL_CHUNK, name = 'model'): Manifest {
  return {
    version: 1,
    name,
    chunkSize,
    files: files.map(f => ({ path: f.path, size: f.bytes.length, sha256: sha256(f.bytes), chunks: chunkTable(f.bytes, chunkSize) }))
  }
}

/** Deterministic pseudo-random bytes (different seeds give different content). */
export function bytesOf (length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length)
  let x = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

export function random (length: number): Uint8Array {
  return new Uint8Array(randomBytes(length))
}

export async function writeTree (root: string, files: TestFile[]): Promise<void> {
  for (const f of files) {
    const path = join(root, ...f.path.split('/'))
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, f.bytes)
  }
}

/** Temp folders under os.tmpdir(); call cleanup() in afterEach. */
export class TempDirs {
  private readonly dirs: string[] = []

  async make (prefix = 'p2pw-unit-'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix))
    this.dirs.push(dir)
    return dir
  }

  async cleanup (): Promise<void> {
    const dirs = this.dirs.splice(0)
    await Promise.all(dirs.map(async d => await rm(d, { recursive: true, force: true })))
  }
}

let cachedKeys: Ed25519PrivateKey[] | undefined
/** Two Ed25519 keys, made once per test file. */
export async function keys (): Promise<[Ed25519PrivateKey, Ed25519PrivateKey]> {
  cachedKeys ??= [await generateKeyPair('Ed25519'), await generateKeyPair('Ed25519')]
  return cachedKeys as [Ed25519PrivateKey, Ed25519PrivateKey]
}

/** Resolves when `predicate` holds, or rejects after `ms`: every wait in the tests is bounded. */
export async function waitFor (predicate: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** Runs `fn` and returns the error it throws (fails the test if it does not throw). */
export async function errorOf (fn: () => unknown): Promise<Error & { code?: unknown }> {
  try {
    await fn()
  } catch (err: any) {
    return err
  }
  throw new Error('expected an error, none was thrown')
}
