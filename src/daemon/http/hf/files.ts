/**
 * `HEAD`/`GET /{repo}/resolve/{rev}/{path}`: a file of a release, streamed from the folder it is
 * served from in place, with the headers huggingface_hub and @huggingface/hub read (see
 * docs/hf.md). The file's identity (inode, size, mtime) must still be what was verified; a
 * file that changed since is refused, as the chunk server refuses it.
 */
import { open } from 'node:fs/promises'
import { HfError, type HfRelease } from './repos.js'
import type { FastifyReply } from 'fastify'

export type ByteRange = { start: number, end: number } | 'whole' | 'unsatisfiable'

/**
 * Parses a Range header against a file of `size` bytes: `bytes=a-b`, `bytes=a-`, `bytes=-n`.
 * No header, or several ranges (which we may ignore, RFC 9110 14.2), is the whole file;
 * anything malformed or outside the file is unsatisfiable (416).
 */
export function parseRange (header: string | undefined, size: number): ByteRange {
  if (header == null) return 'whole'
  const text = header.trim()
  if (/^bytes=[^,]*,/.test(text)) return 'whole'
  const m = /^bytes=(\d{0,16})-(\d{0,16})$/.exec(text)
  if (m == null || (m[1] === '' && m[2] === '')) return 'unsatisfiable'
  if (m[1] === '') {
    const n = Number(m[2])
    if (n === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(m[1])
  const last = m[2] === '' ? size - 1 : Number(m[2])
  if (start >= size || last < start) return 'unsatisfiable'
  return { start, end: Math.min(last, size - 1) }
}

export async function sendFile (reply: FastifyReply, r: HfRelease, path: string, rangeHeader: string | undefined, head: boolean): Promise<FastifyReply> {
  const index = r.byPath.get(path)
  if (index == null) throw new HfError(404, 'EntryNotFound', `${path.slice(0, 200)} does not exist in ${r.name}@${r.commit}`)
  const file = r.release.manifest.files[index]
  const disk = r.files[index]
  if (disk == null) throw new HfError(404, 'EntryNotFound', `${path.slice(0, 200)} is not held by this daemon`)
  const sha256 = Buffer.from(file.sha256).toString('hex')
  reply.headers({
    'x-repo-commit': r.commit,
    etag: `"${sha256}"`,
    'x-linked-etag': `"${sha256}"`,
    'x-linked-size': String(file.size),
    'accept-ranges': 'bytes',
    'content-type': 'application/octet-stream',
    'x-p2pweights-release': r.cid
  })
  const range = parseRange(rangeHeader, file.size)
  if (range === 'unsatisfiable') {
    reply.header('content-range', `bytes */${file.size}`)
    throw new HfError(416, undefined, `Range ${String(rangeHeader).slice(0, 100)} is not satisfiable for ${path} (${file.size} bytes)`)
  }
  const handle = await open(disk.path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new HfError(503, 'FileUnavailable', `${path} cannot be read on this daemon (${err.code ?? err.message}); it is no longer served`)
  })
  let stream
  try {
    const s = await handle.stat()
    if (s.ino !== disk.ino || s.size !== disk.size || s.mtimeMs !== disk.mtimeMs) {
      throw new HfError(503, 'FileUnavailable', `${path} changed on disk since it was verified; it is no longer served`)
    }
    const { start, end } = range === 'whole' ? { start: 0, end: file.size - 1 } : range
    reply.header('content-length', String(end - start + 1))
    if (range !== 'whole') reply.code(206).header('content-range', `bytes ${start}-${end}/${file.size}`)
    if (head || file.size === 0) {
      await handle.close()
      return await reply.send()
    }
    // Streamed from disk in place; the handle closes when the stream ends or the client leaves.
    stream = handle.createReadStream({ start, end, highWaterMark: 1024 * 1024 })
  } catch (err) {
    await handle.close()
    throw err
  }
  return await reply.send(stream)
}
