/**
 * Model folders for the integration tests: deterministic pseudo-random files, and byte-by-byte
 * (sha256 per file) comparison of two folders.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

export const MiB = 1024 * 1024;

export interface FileSpec { path: string; size: number }

export function totalSize(files: FileSpec[]): number { return files.reduce((n, f) => n + f.size, 0); }

const STAMP_EVERY = 64 * 1024;

/**
 * Write deterministic pseudo-random files. One 1 MiB block comes from a sha256 counter PRNG;
 * every 64 KiB of every file is stamped with a hash of (seed, path, offset), so no two chunks
 * of any plausible chunk size (>= 64 KiB) are equal, and generation stays fast.
 */
export async function makeModelFolder(dir: string, files: FileSpec[], seed: string): Promise<void> {
  const base = prngBlock(seed, MiB);
  const scratch = Buffer.alloc(MiB);
  for (const f of files) {
    const file = path.join(dir, f.path);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const fh = await fs.open(file, 'w');
    try {
      for (let off = 0; off < f.size; off += MiB) {
        const n = Math.min(MiB, f.size - off);
        base.copy(scratch, 0, 0, n);
        for (let s = 0; s < n; s += STAMP_EVERY) {
          sha256(`${seed}|${f.path}|${off + s}`).copy(scratch, s, 0, Math.min(32, n - s));
        }
        await fh.write(scratch, 0, n, off);
      }
    } finally { await fh.close(); }
  }
}

function prngBlock(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0, off = 0; off < size; i++, off += 32) sha256(`${seed}#${i}`).copy(out, off);
  return out;
}

function sha256(s: string): Buffer { return createHash('sha256').update(s).digest(); }

// ---- comparing folders ---------------------------------------------------------------------

/** Relative paths ('/'-separated) of everything under dir that is not a directory. */
export async function listFiles(dir: string, skip: (rel: string) => boolean = () => false): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const ent of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${ent.name}` : ent.name;
      if (skip(child)) continue;
      if (ent.isDirectory()) await walk(child); else out.push(child);
    }
  };
  await walk('');
  return out.sort();
}

export async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** sha256 of every regular file under dir; a symlink or other non-file is an error. */
export async function hashTree(dir: string, skip?: (rel: string) => boolean): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const rel of await listFiles(dir, skip)) {
    const st = await fs.lstat(path.join(dir, rel));
    out.set(rel, st.isFile() ? await hashFile(path.join(dir, rel)) : 'not-a-regular-file');
  }
  return out;
}

/** Differences between two folders (same relative paths, same sha256); [] when identical. */
export async function compareFolders(expected: string, actual: string): Promise<string[]> {
  const [want, got] = await Promise.all([hashTree(expected), hashTree(actual)]);
  const diffs: string[] = [];
  for (const [rel, h] of want) {
    if (!got.has(rel)) diffs.push(`missing: ${rel}`);
    else if (got.get(rel) !== h) diffs.push(`content differs: ${rel}`);
  }
  for (const rel of got.keys()) if (!want.has(rel)) diffs.push(`unexpected: ${rel}`);
  return diffs;
}

/** The partial-state folder a fetch keeps inside its output dir. */
export const PARTIAL_DIR = '.p2pweights';
export const isPartialState = (rel: string): boolean => rel === PARTIAL_DIR || rel.startsWith(`${PARTIAL_DIR}/`);

/**
 * Files visible at final paths in `out` (partial state excluded) that are NOT byte-equal to the
 * same path in `source` — i.e. corrupt or stray files a user could see. [] when all is well.
 */
export async function badVisibleFiles(source: string, out: string): Promise<string[]> {
  const want = await hashTree(source);
  const got = await hashTree(out, isPartialState);
  const bad: string[] = [];
  for (const [rel, h] of got) {
    if (!want.has(rel)) bad.push(`stray file: ${rel}`);
    else if (want.get(rel) !== h) bad.push(`wrong content at final path: ${rel}`);
  }
  return bad;
}

export async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}
