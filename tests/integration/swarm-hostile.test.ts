/**
 * Hostile providers beside one honest seeder, each a real libp2p process (malicious-peer.ts)
 * speaking the chunk protocol: tricklers, withholders, HAVE liars, corrupt chunks, wrong and
 * oversized releases. The fetch must complete with the right bytes, within a bound, from the
 * honest seeder; the liars must be dropped.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  compareFolders, Harness, localAddr, makeModelFolder, MiB,
  type CliProcess, type DoneEvent, type FileSpec, type PeerDroppedEvent, type ReadyEvent,
} from './harness.js';

const FILES: FileSpec[] = [
  { path: 'config.json', size: 2_345 },
  { path: 'model.safetensors', size: 40 * MiB + 4_321 },
];

async function seeder(h: Harness): Promise<{ src: string; ready: ReadyEvent; releaseFile: string }> {
  const src = await h.tempDir('src');
  await makeModelFolder(src, FILES, 'hostile');
  const dataDir = await h.tempDir('data-s');
  const { ready } = await h.seed('seeder', src, { dataDir, name: 'hostile' });
  return { src, ready, releaseFile: path.join(dataDir, 'releases', ready.cid) };
}

async function malicious(h: Harness, mode: string, cid: string, releaseFile: string): Promise<ReadyEvent> {
  const proc: CliProcess = h.startScript(`mal-${mode}`, './malicious-peer.ts', ['--mode', mode, '--cid', cid, '--release', releaseFile]);
  return await proc.waitFor<ReadyEvent>('ready', 30_000);
}

describe('hostile providers beside one honest seeder', () => {
  const h = new Harness();
  afterEach(() => h.cleanup(), 30_000);

  // Two tricklers once held every chunk buffer of the fetch and froze it (they send a byte
  // every 300 ms, so the 20 s stall timer never fires). Now a peer that has delivered nothing
  // holds one request at a time, and the endgame takes their chunks to the honest seeder.
  it('two tricklers cannot freeze a fetch: it completes from the honest seeder', { timeout: 120_000 }, async () => {
    const s = await seeder(h);
    const t1 = await malicious(h, 'trickle', s.ready.cid, s.releaseFile);
    const t2 = await malicious(h, 'trickle', s.ready.cid, s.releaseFile);
    const out = await h.tempDir('out');
    // The tricklers come first, so they are asked before the honest seeder.
    const fetcher = h.fetch('fetcher', s.ready.cid, {
      out, dataDir: await h.tempDir('data-f'), peers: [localAddr(t1), localAddr(t2), localAddr(s.ready)],
    });
    const exit = await fetcher.waitForExit(60_000);
    expect(exit.code, fetcher.tail()).toBe(0);
    expect(await compareFolders(s.src, out)).toEqual([]);
    const done = await fetcher.waitFor<DoneEvent>('done', 1);
    expect(Object.keys(done.fromPeers)).toEqual([s.ready.peerId]);
  });

  it('withholders, HAVE liars and corrupt chunks are dropped; the fetch completes', { timeout: 120_000 }, async () => {
    const s = await seeder(h);
    const liars = await Promise.all(['withhold', 'lie-have', 'corrupt'].map(async (m) => await malicious(h, m, s.ready.cid, s.releaseFile)));
    const out = await h.tempDir('out');
    const fetcher = h.fetch('fetcher', s.ready.cid, {
      out, dataDir: await h.tempDir('data-f'), peers: [...liars.map(localAddr), localAddr(s.ready)],
      extra: ['--stall-timeout', '3'],
    });
    const exit = await fetcher.waitForExit(60_000);
    expect(exit.code, fetcher.tail()).toBe(0);
    expect(await compareFolders(s.src, out)).toEqual([]);
    const [, , corrupt] = liars;
    const dropped = fetcher.all<PeerDroppedEvent>('peer-dropped', (e) => e.peerId === corrupt.peerId);
    expect(dropped.length, fetcher.tail()).toBeGreaterThan(0);
    expect(dropped[0].reason).toMatch(/corrupt/);
    const done = await fetcher.waitFor<DoneEvent>('done', 1);
    expect(Object.keys(done.fromPeers)).toEqual([s.ready.peerId]);
  });

  it('a wrong or oversized release from other peers does not stop the fetch', { timeout: 120_000 }, async () => {
    const s = await seeder(h);
    const wrong = await malicious(h, 'wrong-release', s.ready.cid, s.releaseFile);
    const big = await malicious(h, 'oversized-release', s.ready.cid, s.releaseFile);
    const out = await h.tempDir('out');
    const fetcher = h.fetch('fetcher', s.ready.cid, {
      out, dataDir: await h.tempDir('data-f'), peers: [localAddr(wrong), localAddr(big), localAddr(s.ready)],
    });
    const exit = await fetcher.waitForExit(60_000);
    expect(exit.code, fetcher.tail()).toBe(0);
    expect(await compareFolders(s.src, out)).toEqual([]);
    expect(await fs.readFile(path.join(out, 'config.json'))).toEqual(await fs.readFile(path.join(s.src, 'config.json')));
  });
});
