/**
 * A full disk: the fetch must stop with a clear error, expose nothing unverified, blame no
 * peer, and resume once space is freed. The output folder is a small tmpfs mounted by the test.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  badVisibleFiles, compareFolders, Harness, localAddr, makeModelFolder, MiB,
  type DoneEvent, type FileSpec, type ProgressEvent,
} from './harness.js';

const FILES: FileSpec[] = [
  { path: 'config.json', size: 700 },
  { path: 'model.safetensors', size: 36 * MiB + 11 },
];

function mountTmpfs(dir: string, mib: number): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// Mounting a tmpfs needs root (CI and the dev machines run as root). Elsewhere this file's
// tests cannot build a small disk, so they are skipped rather than faked.
const canMount = process.getuid?.() === 0;

describe('full disk', () => {
  const h = new Harness();
  const mounts: string[] = [];
  afterEach(async () => {
    // Unmount first (lazily: the children may still hold files there), so cleanup can remove
    // the then empty mount points.
    for (const m of mounts.splice(0)) execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    await h.cleanup();
  }, 30_000);

  async function smallDisk(mib: number): Promise<string> {
    const dir = await h.tempDir('tmpfs');
    if (!mountTmpfs(dir, mib)) throw new Error(`cannot mount a ${mib} MiB tmpfs on ${dir}`);
    mounts.push(dir);
    return dir;
  }

  // Skipped only where a tmpfs cannot be mounted (not root): see canMount above.
  it.skipIf(!canMount)('refuses at once when the release cannot fit', { timeout: 60_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, FILES, 'disk-full');
    const seeder = await h.seed('seeder', src, { dataDir: await h.tempDir('data-s'), name: 'disk-full' });
    const out = path.join(await smallDisk(16), 'out');

    const fetch = h.fetch('fetch', seeder.ready.cid, { out, dataDir: await h.tempDir('data-f'), peers: [localAddr(seeder.ready)] });
    const exit = await fetch.waitForExit(30_000);
    expect(exit.code).not.toBe(0);
    expect(fetch.stderr).toMatch(/^error: not enough disk space/m);
    expect(fetch.all('done')).toEqual([]);
    expect(await badVisibleFiles(src, out)).toEqual([]);
  });

  // Skipped only where a tmpfs cannot be mounted (not root): see canMount above.
  it.skipIf(!canMount)('stops cleanly when the disk fills mid-fetch, blames no peer, resumes after space is freed', { timeout: 90_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, FILES, 'disk-full');
    const seeder = await h.seed('seeder', src, { dataDir: await h.tempDir('data-s'), name: 'disk-full' });
    const peer = localAddr(seeder.ready);
    const disk = await smallDisk(48);
    const out = path.join(disk, 'out');
    const dataDir = await h.tempDir('data-f');

    const first = h.fetch('fetch-1', seeder.ready.cid, { out, dataDir, peers: [peer] });
    // Some chunks verified first, so the rerun has something to resume from.
    await first.waitFor<ProgressEvent>('progress', 30_000, (e) => e.bytes > 0);
    // Freeze the seeder, eat the free space, let it go on: the next chunk writes hit ENOSPC.
    seeder.proc.signal('SIGSTOP');
    const filler = path.join(disk, 'filler');
    const handle = await fs.open(filler, 'w');
    try {
      for (let i = 0; i < 64; i++) await handle.write(Buffer.alloc(MiB));
    } catch (err: any) {
      expect(err.code).toBe('ENOSPC');
    } finally {
      await handle.close();
    }
    seeder.proc.signal('SIGCONT');

    const exit = await first.waitForExit(60_000);
    expect(exit.code, first.tail()).not.toBe(0);
    expect(first.stderr).toMatch(/^error: cannot store the download: .*ENOSPC/m);
    expect(first.all('peer-dropped')).toEqual([]); // the seeder did nothing wrong
    expect(await badVisibleFiles(src, out)).toEqual([]);

    await fs.rm(filler);
    const second = h.fetch('fetch-2', seeder.ready.cid, { out, dataDir, peers: [peer] });
    const exit2 = await second.waitForExit(60_000);
    expect(exit2.code, second.tail()).toBe(0);
    expect(await compareFolders(src, out)).toEqual([]);
    const done = await second.waitFor<DoneEvent>('done', 1);
    expect(done.downloaded).toBeLessThan(done.bytes);
  });
});
