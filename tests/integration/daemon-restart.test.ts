/**
 * The daemon survives a crash: a fetch that was running when the daemon was SIGKILLed resumes
 * when it starts again with the same data dir (its models.json), downloading only what was
 * missing; and a seed is served again after a restart, with no re-adding.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  badVisibleFiles, compareFolders, exists, Harness, makeModelFolder, MiB, totalSize,
  type DoneEvent, type FileSpec,
} from './harness.js';
import { sleep, startDaemon } from './daemon-harness.js';

// ~48 MiB in a few files, so a kill near half-way lands with files done, one in flight, and
// some not started.
const FILES: FileSpec[] = [
  { path: 'config.json', size: 900 },
  { path: 'model-00001-of-00003.safetensors', size: 16 * MiB + 11 },
  { path: 'model-00002-of-00003.safetensors', size: 16 * MiB },
  { path: 'model-00003-of-00003.safetensors', size: 14 * MiB + 5 },
  { path: 'tokenizer.json', size: 2 * MiB + 3 },
];
const TOTAL = totalSize(FILES);

describe('daemon restart', () => {
  const h = new Harness();
  afterEach(() => h.cleanup(), 30_000);

  it('a killed daemon resumes its fetch after a restart, and serves its seed again', { timeout: 90_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, FILES, 'daemon-restart');
    const dataA = await h.tempDir('data-a');
    const dataB = await h.tempDir('data-b');
    const outB = path.join(await h.tempDir('out-b'), 'model');

    // A's upload is limited so that the fetch takes a few seconds and the kill lands mid-way
    // on any machine; the rest of the test does not depend on the limit.
    const a = await startDaemon(h, 'daemon-a', dataA, { extra: ['--max-upload-rate', '16'] });
    const seeded = await a.api.seed(src, 'restart');
    expect(seeded.state).toBe('seeding');
    expect(seeded.bytes).toBe(TOTAL);
    const cid = seeded.cid;

    const b = await startDaemon(h, 'daemon-b', dataB, { bootstrap: [a.addr] });
    const queued = await b.api.fetch(cid, { outDir: outB, peers: [a.addr] });
    expect(queued.cid).toBe(cid);
    expect(['queued', 'fetching']).toContain(queued.state);

    const partial = await b.api.waitForModel(cid, (m) => m.verifiedBytes >= TOTAL * 0.3, 45_000, {
      everyMs: 50, context: () => `${b.proc.tail()}\n${a.proc.tail()}`,
    });
    // Freeze the seeder so nothing more arrives; give B time to flush its bitfield (every 1 s),
    // then crash it.
    a.proc.signal('SIGSTOP');
    await sleep(1500);
    b.proc.signal('SIGKILL');
    expect((await b.proc.waitForExit(10_000)).signal).toBe('SIGKILL');
    a.proc.signal('SIGCONT');
    expect(partial.state).toBe('fetching');
    expect(partial.bytes).toBe(TOTAL);
    expect(partial.verifiedBytes, 'the fetch completed before the kill; the upload limit did not hold').toBeLessThan(TOTAL);
    // A crash leaves partial state, never a wrong file at a final path.
    expect(await badVisibleFiles(src, outB)).toEqual([]);
    expect(await exists(path.join(outB, '.p2pweights', 'have'))).toBe(true);

    // The same data dir: models.json says what to resume, with no new request.
    const b2 = await startDaemon(h, 'daemon-b2', dataB, { bootstrap: [a.addr] });
    expect(b2.ready.models).toBe(1);
    expect(b2.ready.peerId).toBe(b.ready.peerId);
    const done = await b2.api.waitForModel(cid, (m) => m.state === 'seeding', 45_000, {
      context: () => `${b2.proc.tail()}\n${a.proc.tail()}`,
    });
    expect(done.kind).toBe('fetch');
    expect(done.path).toBe(outB);
    expect(done.verifiedBytes).toBe(TOTAL);
    expect(await compareFolders(src, outB)).toEqual([]); // also: no .p2pweights/ left behind
    // `downloaded` counts since this daemon started: only what was missing came again.
    expect(done.downloaded, 'the restarted daemon downloaded nothing: did it resume at all?').toBeGreaterThan(0);
    expect(done.downloaded, 'the restarted daemon downloaded everything again').toBeLessThan(TOTAL);
    expect(done.downloaded).toBeLessThanOrEqual(TOTAL - partial.verifiedBytes + 4 * MiB);

    // Crash the seeder too: on restart it serves the folder again from its list (and the hash
    // cache), as soon as its API is up.
    a.proc.signal('SIGKILL');
    await a.proc.waitForExit(10_000);
    const restartedAt = Date.now();
    const a2 = await startDaemon(h, 'daemon-a2', dataA);
    expect(a2.ready.models).toBe(1);
    const again = await a2.api.waitForModel(cid, (m) => m.state === 'seeding', 5_000, { context: () => a2.proc.tail() });
    expect(Date.now() - restartedAt).toBeLessThan(15_000);
    expect(again.kind).toBe('seed');
    expect(again.path).toBe(src);

    // A third node, no daemon, gets identical bytes from the restarted seeder (new port, same id).
    expect(a2.ready.peerId).toBe(a.ready.peerId);
    const outC = await h.tempDir('out-c');
    const c = h.fetch('fetch-c', cid, { out: outC, dataDir: await h.tempDir('data-c'), peers: [a2.addr], extra: ['--no-daemon'] });
    const exit = await c.waitForExit(45_000);
    expect(exit.code, c.tail()).toBe(0);
    const cDone = await c.waitFor<DoneEvent>('done', 1);
    expect(cDone.bytes).toBe(TOTAL);
    // The restarted seeder served (daemon B, found through the DHT, may have served some too).
    expect(cDone.fromPeers[a2.ready.peerId] ?? 0, JSON.stringify(cDone.fromPeers)).toBeGreaterThan(0);
    expect(await compareFolders(src, outC)).toEqual([]);

    // The seeded folder was never written to.
    expect((await fs.readdir(src)).sort()).toEqual(FILES.map((f) => f.path).sort());
  });
});
