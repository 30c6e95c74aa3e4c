/**
 * Flash crowds: many fetchers at once from one origin, and a seeder that is not there yet when
 * the fetch starts. Every fetcher must finish with the right bytes; fetchers must feed each
 * other so the origin uploads far less than one copy per fetcher.
 */
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  compareFolders, Harness, LOCAL_ONLY, localAddr, makeModelFolder, MiB, totalSize,
  type DoneEvent, type FileSpec, type ReadyEvent,
} from './harness.js';

const FILES: FileSpec[] = [
  { path: 'config.json', size: 1_234 },
  { path: 'model.safetensors', size: 30 * MiB + 5_555 },
];

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

describe('flash crowd', () => {
  const h = new Harness();
  afterEach(() => h.cleanup(), 30_000);

  it('8 fetchers at once all finish with identical bytes; the origin uploads less than 8 copies', { timeout: 150_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, FILES, 'crowd');
    const origin = h.start('origin', ['seed', src, '--data-dir', await h.tempDir('data-o'), '--json', '--name', 'crowd', '--chunk-size', '1', ...LOCAL_ONLY]);
    const ready = await origin.waitFor<ReadyEvent>('ready', 30_000);
    const fetchers = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const out = await h.tempDir(`out${i}`);
      const proc = h.fetch(`fetcher-${i}`, ready.cid, {
        out, dataDir: await h.tempDir(`data-${i}`), bootstrap: [localAddr(ready)], peers: [localAddr(ready)],
      });
      return { out, proc };
    }));
    const exits = await Promise.all(fetchers.map(async (f) => await f.proc.waitForExit(120_000)));
    exits.forEach((exit, i) => expect(exit.code, fetchers[i].proc.tail()).toBe(0));
    for (const f of fetchers) expect(await compareFolders(src, f.out)).toEqual([]);
    const dones = await Promise.all(fetchers.map(async (f) => await f.proc.waitFor<DoneEvent>('done', 1)));
    const fromOrigin = dones.reduce((n, d) => n + (d.fromPeers[ready.peerId] ?? 0), 0);
    const ratio = fromOrigin / totalSize(FILES);
    const peersUsed = dones.map((d) => Object.keys(d.fromPeers).length);
    console.log(`origin upload ${ratio.toFixed(2)}x the model; peers used per fetcher ${peersUsed.join(',')}`);
    expect(ratio).toBeLessThan(8);
    // Fetchers fed each other: most got bytes from some peer besides the origin.
    expect(peersUsed.filter((n) => n > 1).length).toBeGreaterThan(4);
  });

  // A fetcher that met a refused connection once used to give up on that peer for good.
  it('asks a seeder again, with backoff, until it comes up within --find-timeout', { timeout: 90_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, FILES.slice(0, 1), 'late');
    const dataDir = await h.tempDir('data-s');
    const port = await freePort();
    const seedArgs = ['seed', src, '--data-dir', dataDir, '--json', '--name', 'late', ...LOCAL_ONLY, '--listen', `/ip4/127.0.0.1/tcp/${port}`];
    // First run: learn the seeder's CID and peer id (its identity stays in its data dir).
    const first = h.start('seeder-1', seedArgs);
    const ready = await first.waitFor<ReadyEvent>('ready', 30_000);
    first.signal('SIGKILL');
    await first.waitForExit(10_000);

    const out = await h.tempDir('out');
    const fetcher = h.fetch('fetcher', ready.cid, {
      out, dataDir: await h.tempDir('data-f'), peers: [`/ip4/127.0.0.1/tcp/${port}/p2p/${ready.peerId}`],
      extra: ['--find-timeout', '40'],
    });
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // refused at least once by now
    const again = h.start('seeder-2', seedArgs);
    await again.waitFor<ReadyEvent>('ready', 30_000);
    const exit = await fetcher.waitForExit(60_000);
    expect(exit.code, fetcher.tail()).toBe(0);
    expect(await compareFolders(src, out)).toEqual([]);
    expect(path.resolve((await fetcher.waitFor<DoneEvent>('done', 1)).path)).toBe(path.resolve(out));
  });

  // Initial seeding holds back chunks some connected peer already got from the origin. When
  // that peer has gone, the origin must serve them again: a late fetcher whose only source is
  // the origin finishes (without that it would get one repeat per 30 s: 31 chunks, > 15 min).
  it('serves a late fetcher everything when the peers that got the first copies have left', { timeout: 120_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, FILES, 'alone');
    const origin = h.start('origin', ['seed', src, '--data-dir', await h.tempDir('data-o'), '--json', '--name', 'alone', '--chunk-size', '1', ...LOCAL_ONLY]);
    const ready = await origin.waitFor<ReadyEvent>('ready', 30_000);
    const first = h.fetch('first', ready.cid, { out: await h.tempDir('out-1'), dataDir: await h.tempDir('data-1'), peers: [localAddr(ready)] });
    expect((await first.waitForExit(60_000)).code, first.tail()).toBe(0);
    const firstDone = await first.waitFor<DoneEvent>('done', 1);
    expect(firstDone.fromPeers[ready.peerId]).toBe(totalSize(FILES)); // every first copy went to it
    const out = await h.tempDir('out-2');
    const late = h.fetch('late', ready.cid, { out, dataDir: await h.tempDir('data-2'), peers: [localAddr(ready)], extra: ['--find-timeout', '30'] });
    const exit = await late.waitForExit(60_000);
    expect(exit.code, late.tail()).toBe(0);
    expect(await compareFolders(src, out)).toEqual([]);
    expect((await late.waitFor<DoneEvent>('done', 1)).fromPeers[ready.peerId]).toBe(totalSize(FILES));
  });
});
