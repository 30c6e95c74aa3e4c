/**
 * DHT discovery + swarming: two seeders with their own copies of one release, a fetcher that
 * only knows the first seeder's address must find the second through the (private) DHT and
 * download from both.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  compareFolders, Harness, localAddr, makeModelFolder, MiB, totalSize,
  type DoneEvent, type FileSpec, type ManifestEvent,
} from './harness.js';

// ~64 MiB: an empty file, a file smaller than any chunk, a nested file, and sizes that are not
// multiples of 4 MiB, so chunk boundaries and tails are exercised.
const FILES: FileSpec[] = [
  { path: 'config.json', size: 1_234 },
  { path: 'empty.txt', size: 0 },
  { path: 'model-00001-of-00002.safetensors', size: 30 * MiB + 12_345 },
  { path: 'model-00002-of-00002.safetensors', size: 24 * MiB },
  { path: 'tokenizer/tokenizer.json', size: 9 * MiB + 777 },
];

describe('DHT discovery and swarming from two seeders', () => {
  const h = new Harness();
  afterEach(() => h.cleanup(), 30_000);

  it('finds the second seeder via the DHT and gets bytes from both', { timeout: 90_000 }, async () => {
    const srcA = await h.tempDir('src-a');
    await makeModelFolder(srcA, FILES, 'swarm');
    const srcB = await h.tempDir('src-b');
    await fs.cp(srcA, srcB, { recursive: true }); // B seeds its OWN copy, not A's files
    const key = path.join(await h.tempDir('key'), 'publisher.key');
    const { publisher } = await h.keygen(key);

    const a = await h.seed('seeder-A', srcA, { dataDir: await h.tempDir('data-a'), key, name: 'swarm-model' });
    const b = await h.seed('seeder-B', srcB, {
      dataDir: await h.tempDir('data-b'), key, name: 'swarm-model', bootstrap: [localAddr(a.ready)],
    });
    // Same folder content + same key + same name => same release CID, from different data dirs.
    expect(b.ready.cid).toBe(a.ready.cid);
    expect(a.ready.publisher).toBe(publisher);
    expect(b.ready.peerId).not.toBe(a.ready.peerId);

    // B's provider record must be in the DHT before the fetcher looks, or it could only find A.
    // Waiting for B's "announced" event avoids a guessed sleep.
    await b.proc.waitFor('announced', 30_000);

    const out = await h.tempDir('out');
    const fetcher = h.fetch('fetcher', a.ready.cid, {
      out, dataDir: await h.tempDir('data-f'), bootstrap: [localAddr(a.ready)], // no --peer: discovery only
    });
    const exit = await fetcher.waitForExit(75_000);
    expect(exit.code, fetcher.tail()).toBe(0);

    const manifest = await fetcher.waitFor<ManifestEvent>('manifest', 1);
    expect(manifest).toMatchObject({ cid: a.ready.cid, name: 'swarm-model', publisher, bytes: totalSize(FILES) });

    const done = await fetcher.waitFor<DoneEvent>('done', 1);
    expect(done.cid).toBe(a.ready.cid);
    expect(path.resolve(done.path)).toBe(path.resolve(out));
    expect(done.bytes).toBe(totalSize(FILES));
    expect(await compareFolders(srcA, out)).toEqual([]);

    // Swarming: both seeders contributed.
    expect(done.fromPeers[a.ready.peerId] ?? 0, JSON.stringify(done.fromPeers)).toBeGreaterThan(0);
    expect(done.fromPeers[b.ready.peerId] ?? 0, JSON.stringify(done.fromPeers)).toBeGreaterThan(0);
    const fromAll = Object.values(done.fromPeers).reduce((n, v) => n + v, 0);
    expect(fromAll).toBeGreaterThanOrEqual(done.bytes); // fresh fetch: every byte came from a peer
  });
});
