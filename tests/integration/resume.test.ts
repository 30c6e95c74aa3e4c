/**
 * Crash + resume: SIGKILL a fetch part-way, check that nothing corrupt is visible, then rerun it
 * and check it completes without transferring everything again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  badVisibleFiles, compareFolders, Harness, localAddr, makeModelFolder, MiB, totalSize,
  type DoneEvent, type FileSpec, type ProgressEvent,
} from './harness.js';

// ~160 MiB in several files, so a kill at >= 25% lands with some files done, one in flight,
// and some not started.
const FILES: FileSpec[] = [
  { path: 'config.json', size: 1_500 },
  { path: 'model-00001-of-00004.safetensors', size: 40 * MiB + 17 },
  { path: 'model-00002-of-00004.safetensors', size: 40 * MiB },
  { path: 'model-00003-of-00004.safetensors', size: 40 * MiB + 3 * MiB / 2 },
  { path: 'model-00004-of-00004.safetensors', size: 36 * MiB + 99 },
  { path: 'tokenizer/tokenizer.json', size: 2 * MiB + 5 },
];
const TOTAL = totalSize(FILES);

describe('crash and resume', () => {
  const h = new Harness();
  afterEach(() => h.cleanup(), 30_000);

  it('SIGKILL mid-fetch leaves no corrupt visible file, and a rerun resumes', { timeout: 120_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, FILES, 'resume');
    const seeder = await h.seed('seeder', src, { dataDir: await h.tempDir('data-s'), name: 'resume' });
    const peer = localAddr(seeder.ready);

    const out = await h.tempDir('out');
    const dataDir = await h.tempDir('data-f');
    const first = h.fetch('fetch-1', seeder.ready.cid, { out, dataDir, peers: [peer] });
    const progress = await first.waitFor<ProgressEvent>('progress', 45_000, (e) => e.bytes >= TOTAL / 4);
    // Loopback is fast: freeze the seeder at once so the fetch cannot finish before the kill
    // lands (only bytes already in socket buffers can still arrive), then crash the fetcher.
    seeder.proc.signal('SIGSTOP');
    first.signal('SIGKILL');
    seeder.proc.signal('SIGCONT');
    expect(progress.total).toBe(TOTAL);
    expect(progress.bytes, 'the first progress event >= 25% was already 100%; progress lines too sparse?')
      .toBeLessThan(TOTAL);
    const killed = await first.waitForExit(10_000);
    expect(killed.signal).toBe('SIGKILL');
    expect(first.all('done')).toEqual([]);

    // The crash may leave partial state under .p2pweights/, but every file at a final path must
    // be complete and correct.
    expect(await badVisibleFiles(src, out)).toEqual([]);

    const second = h.fetch('fetch-2', seeder.ready.cid, { out, dataDir, peers: [peer] });
    const exit = await second.waitForExit(60_000);
    expect(exit.code, second.tail()).toBe(0);
    expect(await compareFolders(src, out)).toEqual([]); // also checks .p2pweights/ was removed

    const done = await second.waitFor<DoneEvent>('done', 1);
    expect(done.bytes).toBe(TOTAL);
    // Resumed: the chunks verified before the crash were not transferred again.
    expect(done.downloaded).toBeLessThan(done.bytes);
  });
});
