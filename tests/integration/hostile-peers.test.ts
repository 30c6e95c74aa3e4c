/**
 * Peers that lie or stall. The fetcher must verify every chunk, drop the bad peer, finish from
 * the honest one, and never put unverified bytes at a final path.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  badVisibleFiles, compareFolders, exists, Harness, localAddr, makeModelFolder, MiB,
  type DoneEvent, type FileSpec, type PeerDroppedEvent,
} from './harness.js';

// Mostly one big file, so whichever chunks the scheduler asks B for, they come from the rotted file.
const FILES: FileSpec[] = [
  { path: 'config.json', size: 2_000 },
  { path: 'model.safetensors', size: 36 * MiB + 1_000 },
];
const ROTTED = 'model.safetensors';
const PINNED_TIME = 1_700_000_000; // whole seconds, so utimes can restore the mtime exactly (to the ns)

/** Pin a file's atime/mtime to whole seconds before the seeder first sees it. */
async function pinTimes(file: string): Promise<void> {
  await fs.utimes(file, PINNED_TIME, PINNED_TIME);
}

/**
 * Bit rot: flip 16 bytes in every 64 KiB of the file, in place, keeping its size and its
 * (pinned) mtime, so the seeder cannot notice from stat() and serves bad chunks.
 */
async function rotInPlace(file: string): Promise<void> {
  const before = await fs.stat(file, { bigint: true });
  const fh = await fs.open(file, 'r+');
  try {
    const buf = Buffer.alloc(16);
    for (let off = 32 * 1024; off + buf.length <= Number(before.size); off += 64 * 1024) {
      await fh.read(buf, 0, buf.length, off);
      for (let i = 0; i < buf.length; i++) buf.writeUInt8(buf.readUInt8(i) ^ 0xa5, i);
      await fh.write(buf, 0, buf.length, off);
    }
  } finally { await fh.close(); }
  await fs.utimes(file, PINNED_TIME, PINNED_TIME);
  const after = await fs.stat(file, { bigint: true });
  // The disguise must hold, or this test would be testing the seeder's change detection instead.
  expect(after.size).toBe(before.size);
  expect(after.mtimeNs).toBe(before.mtimeNs);
}

describe('lying seeder (bit-rotted copy, same size and mtime)', () => {
  const h = new Harness();
  afterEach(() => h.cleanup(), 30_000);

  async function honestAndRottedCopies(): Promise<{ honest: string; rotted: string; key: string }> {
    const honest = await h.tempDir('honest');
    await makeModelFolder(honest, FILES, 'liar');
    const rotted = await h.tempDir('rotted');
    await fs.cp(honest, rotted, { recursive: true });
    await pinTimes(path.join(rotted, ROTTED));
    const key = path.join(await h.tempDir('key'), 'publisher.key');
    await h.keygen(key);
    return { honest, rotted, key };
  }

  it('drops the lying peer and finishes from the honest one', { timeout: 90_000 }, async () => {
    const { honest, rotted, key } = await honestAndRottedCopies();
    // A at 8 MB/s: the fetch takes seconds, so the liar is surely asked for rotted chunks (an
    // unlimited A on 127.0.0.1 once served everything in 0.6 s, B only a small file).
    const a = await h.seed('honest-A', honest, { dataDir: await h.tempDir('data-a'), key, name: 'liar', extra: ['--max-upload-rate', '8'] });
    const b = await h.seed('liar-B', rotted, { dataDir: await h.tempDir('data-b'), key, name: 'liar' });
    expect(b.ready.cid).toBe(a.ready.cid);
    await rotInPlace(path.join(rotted, ROTTED)); // after B indexed the good bytes

    const out = await h.tempDir('out');
    const fetcher = h.fetch('fetcher', a.ready.cid, {
      out, dataDir: await h.tempDir('data-f'), peers: [localAddr(a.ready), localAddr(b.ready)],
    });
    const exit = await fetcher.waitForExit(75_000);
    expect(exit.code, fetcher.tail()).toBe(0);
    expect(await compareFolders(honest, out)).toEqual([]);

    // Both must show: the event (for programs) and the warning line (for people).
    const dropped = fetcher.all<PeerDroppedEvent>('peer-dropped', (e) => e.peerId === b.ready.peerId);
    expect(dropped.length, `B (${b.ready.peerId}) was never dropped\n${fetcher.tail()}`).toBeGreaterThan(0);
    expect(dropped[0].reason).toMatch(/corrupt/);
    expect(fetcher.all<PeerDroppedEvent>('peer-dropped', (e) => e.peerId === a.ready.peerId)).toEqual([]);

    const done = await fetcher.waitFor<DoneEvent>('done', 1);
    expect(done.fromPeers[a.ready.peerId] ?? 0).toBeGreaterThan(0);
  });

  it('fails, without exposing corrupt files, when the liar is the only peer', { timeout: 90_000 }, async () => {
    const { honest, rotted, key } = await honestAndRottedCopies();
    const b = await h.seed('liar-B', rotted, { dataDir: await h.tempDir('data-b'), key, name: 'liar' });
    await rotInPlace(path.join(rotted, ROTTED));

    const out = await h.tempDir('out');
    const fetcher = h.fetch('fetcher', b.ready.cid, {
      out, dataDir: await h.tempDir('data-f'), peers: [localAddr(b.ready)],
      extra: ['--find-timeout', '10', '--stall-timeout', '5'],
    });
    const exit = await fetcher.waitForExit(75_000);
    expect(exit.code, fetcher.tail()).not.toBe(0);
    expect(exit.signal).toBeNull(); // a clean failure, not a crash
    expect(fetcher.errorLines().length, fetcher.tail()).toBeGreaterThan(0);

    // No verified copy exists anywhere, so the file must not be at its final path at all,
    // and anything else visible (e.g. config.json, which B serves correctly) must be correct.
    expect(await exists(path.join(out, ROTTED))).toBe(false);
    expect(await badVisibleFiles(honest, out)).toEqual([]);
  });
});

describe('stalling peer (SIGSTOP mid-fetch)', () => {
  const h = new Harness();
  afterEach(() => h.cleanup(), 30_000); // cleanup sends SIGCONT before SIGKILL

  it('drops the frozen peer after --stall-timeout and completes from the other', { timeout: 90_000 }, async () => {
    const files: FileSpec[] = [
      { path: 'config.json', size: 3_000 },
      { path: 'model.safetensors', size: 44 * MiB + 4_321 },
    ];
    const srcA = await h.tempDir('src-a');
    await makeModelFolder(srcA, files, 'stall');
    const srcB = await h.tempDir('src-b');
    await fs.cp(srcA, srcB, { recursive: true });
    const key = path.join(await h.tempDir('key'), 'publisher.key');
    await h.keygen(key);
    const a = await h.seed('seeder-A', srcA, { dataDir: await h.tempDir('data-a'), key, name: 'stall' });
    const b = await h.seed('staller-B', srcB, { dataDir: await h.tempDir('data-b'), key, name: 'stall' });
    expect(b.ready.cid).toBe(a.ready.cid);

    const out = await h.tempDir('out');
    const fetcher = h.fetch('fetcher', a.ready.cid, {
      out, dataDir: await h.tempDir('data-f'), peers: [localAddr(a.ready), localAddr(b.ready)],
      // Slow enough (>= 4.5 s for 44 MiB) that the stall timer must fire before the end.
      extra: ['--stall-timeout', '2', '--max-download-rate', '10'],
    });
    await fetcher.waitFor('manifest', 30_000);
    // Frozen, not dead: its TCP connections stay open, so only the fetcher's own timeout can help.
    b.proc.signal('SIGSTOP');

    const exit = await fetcher.waitForExit(60_000);
    expect(exit.code, fetcher.tail()).toBe(0);
    expect(await compareFolders(srcA, out)).toEqual([]);
    const done = await fetcher.waitFor<DoneEvent>('done', 1);
    expect(done.fromPeers[a.ready.peerId] ?? 0).toBeGreaterThan(0);
    // The endgame alone would finish this fetch; the frozen peer must also have been dropped by
    // the stall timer, or this test would pass without stall detection.
    const dropped = fetcher.all<PeerDroppedEvent>('peer-dropped', (e) => e.peerId === b.ready.peerId);
    expect(dropped.length, fetcher.tail()).toBeGreaterThan(0);
    expect(dropped[0].reason).toMatch(/no data for \d+ s/);
    b.proc.signal('SIGCONT');
  });
});
