/**
 * An honest seeder on a slow uplink is not punished for it. A re-seeder (`fetch --seed`, not
 * the origin) limited to 0.5 MB/s, 4 Mbit/s as on many home lines, serves four fetchers at once,
 * each a different 6 MiB file, so they cannot help each other and all bytes come through it. With 32
 * uploads at once, each ran at about 30 KB/s: every 1 MiB chunk missed the fetchers' deadline
 * (stall allowance + chunk at 64 KiB/s), three misses banned the seeder, and every fetch failed.
 * Now the server runs as many uploads as its uplink carries at 128 KiB/s each and answers the
 * rest BUSY (swarm/policy/upload-limit.ts): every fetch completes with its bytes.
 */
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { badVisibleFiles, Harness, isPartialState, listFiles, localAddr, makeModelFolder, type FileSpec } from './harness.js';

const MiB = 2 ** 20;
const FILES: FileSpec[] = [1, 2, 3, 4].map((i) => ({ path: `w${i}.bin`, size: 6 * MiB }));

describe('slow seeder', () => {
  const h = new Harness();
  afterEach(() => h.cleanup(), 30_000);

  it('a 4 Mbit/s re-seeder serves four fetchers at once to the end: none bans it for being slow', { timeout: 150_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, FILES, 'slow-seeder');
    const origin = await h.seed('origin', src, { dataDir: await h.tempDir('data-o'), extra: ['--chunk-size', '1'] });
    const cid = origin.ready.cid;
    const reseeder = h.fetch('reseeder', cid, {
      out: await h.tempDir('out-r'), dataDir: await h.tempDir('data-r'), peers: [localAddr(origin.ready)],
      extra: ['--seed', '--max-upload-rate', '0.5'],
    });
    const seeding = await reseeder.waitFor<{ event: 'seeding'; addrs: string[] }>('seeding', 60_000);
    const addr = seeding.addrs.find((a) => a.startsWith('/ip4/127.0.0.1/'))!;
    origin.proc.signal('SIGKILL'); // from now on every byte comes from the slow re-seeder
    await origin.proc.waitForExit(10_000);

    // An 8 s stall allowance makes a chunk's deadline 8 s + 1 MiB at 64 KiB/s = 24 s; 16 uploads at
    // once would each need 33 s for it.
    const dirs = await Promise.all(FILES.map(async () => ({ out: path.join(await h.tempDir('out'), 'model'), data: await h.tempDir('data') })));
    const fetchers = FILES.map((f, i) => ({
      file: f.path,
      out: dirs[i].out,
      proc: h.fetch(`fetch-${i}`, cid, {
        out: dirs[i].out, dataDir: dirs[i].data, peers: [addr],
        extra: ['--include', f.path, '--stall-timeout', '8', '--find-timeout', '60'],
      }),
    }));
    for (const f of fetchers) {
      const exit = await f.proc.waitForExit(120_000);
      expect(exit.code, f.proc.tail()).toBe(0);
      expect(await listFiles(f.out, isPartialState)).toEqual([f.file]);
      expect(await badVisibleFiles(src, f.out)).toEqual([]);
      const strikes = f.proc.events.filter((e) => e.event === 'peer-dropped' && /strikes/.test(String(e.reason)));
      expect(strikes, f.proc.tail()).toEqual([]);
    }
  });
});
