/**
 * The daemon's HTTP API end to end, on a real `p2pweights daemon` process: every endpoint, the
 * errors a client can meet (each a 4xx with a JSON message, none hurting the daemon), a fetch
 * between two daemons, a clean SIGTERM; and a seeded folder that changes on disk, which must
 * stop being served rather than be served with bytes that no longer match its manifest.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';
import { afterEach, describe, expect, it } from 'vitest';
import {
  badVisibleFiles, compareFolders, exists, fmtExit, Harness, makeModelFolder, MiB, totalSize,
  type CliEvent, type FileSpec,
} from './harness.js';
import { readEvents, startDaemon, type Model } from './daemon-harness.js';

const SMALL: FileSpec[] = [
  { path: 'config.json', size: 800 },
  { path: 'weights.safetensors', size: 3 * MiB + 77 },
  { path: 'tokenizer/tokenizer.json', size: 300_000 },
];
const SMALL_TOTAL = totalSize(SMALL);

/** A well-formed CIDv1 (dag-cbor) that no one has. */
async function randomCid(): Promise<string> {
  return CID.create(1, 0x71, await sha256.digest(randomBytes(32))).toString();
}

/** Every error answer is JSON {error: "<a sentence>"}, never a stack trace. */
function expectError(res: { status: number; body: any; text: string }, status: number, pattern?: RegExp): void {
  expect(res.status, res.text).toBe(status);
  expect(typeof res.body?.error, res.text).toBe('string');
  expect(res.body.error.length).toBeGreaterThan(10);
  expect(res.text).not.toMatch(/\n\s+at /); // no stack
  if (pattern) expect(res.body.error).toMatch(pattern);
}

describe('daemon HTTP API', () => {
  const h = new Harness();
  afterEach(() => h.cleanup(), 30_000);

  it('serves every endpoint, refuses bad requests with 4xx, and stops cleanly', { timeout: 60_000 }, async () => {
    const allowed = await h.tempDir('allowed');
    const src = path.join(allowed, 'model');
    await makeModelFolder(src, SMALL, 'daemon-api');
    const outside = await h.tempDir('outside');
    await makeModelFolder(outside, SMALL.slice(0, 1), 'outside');
    const dataA = await h.tempDir('data-a');
    const a = await startDaemon(h, 'daemon-a', dataA, { extra: ['--allow-folder', allowed] });
    expect(a.ready.models).toBe(0);
    expect(a.ready).not.toHaveProperty('token'); // never in --json output

    // The CLI finds the daemon through <data-dir>/api.json, and its token in <data-dir>/api-token.
    const apiFile = JSON.parse(await fs.readFile(path.join(dataA, 'api.json'), 'utf8'));
    expect(apiFile).toEqual({ url: a.ready.api, pid: a.proc.pid, token: true });

    // ---- reading endpoints on an empty daemon
    expect(await a.api.ok('/healthz')).toEqual({ ok: true });
    const status = await a.api.ok('/api/v1/status');
    expect(status).toMatchObject({ peerId: a.ready.peerId, models: 0, dhtProtocol: '/p2pweights-test/kad/1.0.0' });
    expect(status.addrs).toContain(a.addr);
    expect(typeof status.version).toBe('string');
    expect(status.uptime).toBeGreaterThanOrEqual(0);
    expect(status.limits).toMatchObject({ uploadRate: 0, downloadRate: 0 });
    expect(status.limits.allowedFolders).toEqual([allowed]);
    expect(await a.api.models()).toEqual([]);
    expect(await a.api.ok('/api/v1/peers')).toEqual([]);

    // ---- seed through the API while an event stream watches
    let seeded: Model | undefined;
    let seedStatus = 0;
    let location: string | undefined;
    const events = await readEvents(a.api, (m) => m.type === 'model' && m.data.model.state === 'seeding', 30_000, () => {
      void a.api.post<Model>('/api/v1/seeds', { folder: src, name: 'api-model' }, { timeoutMs: 30_000 }).then((res) => {
        seedStatus = res.status;
        seeded = res.body;
        location = res.headers.location;
      });
    });
    expect(events[0].type).toBe('snapshot');
    expect(events[0].data.models).toEqual([]);
    expect(events[0].data.status.peerId).toBe(a.ready.peerId);
    const seedEvent = events.at(-1)!.data.model as Model;
    expect(seedEvent).toMatchObject({ name: 'api-model', kind: 'seed', state: 'seeding', path: src, bytes: SMALL_TOTAL });
    const deadline = Date.now() + 10_000;
    while (seeded == null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(seedStatus).toBe(201);
    expect(seeded).toMatchObject({ cid: seedEvent.cid, state: 'seeding', verifiedBytes: SMALL_TOTAL, files: SMALL.length });
    const cid = seeded!.cid;
    expect(location).toBe(`/api/v1/models/${cid}`);
    expect((await a.api.ok(`/api/v1/models/${cid}`)).cid).toBe(cid);
    expect((await a.api.models()).map((m) => m.cid)).toEqual([cid]);
    // Seeding the same folder again is the same release, not a second entry.
    expect((await a.api.seed(src, 'api-model')).cid).toBe(cid);
    expect(await a.api.models()).toHaveLength(1);

    // ---- bad requests: each a 4xx with a message; none changes the list
    expectError(await a.api.post('/api/v1/seeds', { folder: 'model' }), 400, /absolute/);
    expectError(await a.api.post('/api/v1/seeds', { folder: path.join(allowed, 'no-such-folder') }), 400, /not a folder/);
    expectError(await a.api.post('/api/v1/seeds', { folder: path.join(src, 'config.json') }), 400);
    expectError(await a.api.post('/api/v1/seeds', { folder: outside }), 403, /--allow-folder/);
    // A path that only looks inside the allowed folder.
    expectError(await a.api.post('/api/v1/seeds', { folder: `${allowed}/../${path.basename(outside)}` }), 403);
    expectError(await a.api.post('/api/v1/seeds', {}), 400, /folder/);
    expectError(await a.api.post('/api/v1/seeds', { folder: src, colour: 'red' }), 400, /colour/);
    expectError(await a.api.post('/api/v1/seeds', { folder: 42 }), 400);
    expectError(await a.api.post('/api/v1/fetches', { cid: 'not-a-cid' }), 400, /CID/i);
    expectError(await a.api.post('/api/v1/fetches', { cid: await randomCid(), outDir: path.join(outside, 'x') }), 403);
    expectError(await a.api.post('/api/v1/fetches', { cid: await randomCid(), outDir: 'relative/out' }), 400);
    expectError(await a.api.post('/api/v1/fetches', { cid: await randomCid(), peers: 'not-a-list' }), 400);
    expectError(await a.api.request('DELETE', `/api/v1/models/${await randomCid()}`), 404);
    expectError(await a.api.request('DELETE', '/api/v1/models/unknown'), 404);
    expectError(await a.api.get(`/api/v1/models/${await randomCid()}`), 404);
    expectError(await a.api.get('/api/v1/nothing-here'), 404);
    expectError(await a.api.request('POST', '/api/v1/seeds', { raw: JSON.stringify({ folder: '/' + 'x'.repeat(200 * 1024) }) }), 413);
    expectError(await a.api.request('POST', '/api/v1/seeds', { raw: '{"folder": "/tmp' }), 400, /JSON/);
    expectError(await a.api.request('POST', '/api/v1/seeds', { raw: '' }), 400);
    expectError(await a.api.request('POST', '/api/v1/seeds', { raw: JSON.stringify({ folder: src }), contentType: 'text/plain' }), 415);
    // What a web page could try: another site's Origin, or a rebound DNS name as Host.
    expectError(await a.api.get('/api/v1/models', { headers: { origin: 'http://evil.example' } }), 403);
    expectError(await a.api.get('/api/v1/models', { headers: { host: 'evil.example' } }), 403);
    expect((await a.api.models()).map((m) => m.cid)).toEqual([cid]);
    // ... and the daemon still answers.
    expect(await a.api.ok('/healthz')).toEqual({ ok: true });

    // ---- a second daemon fetches it through its own API
    const b = await startDaemon(h, 'daemon-b', await h.tempDir('data-b'), { bootstrap: [a.addr] });
    const outB = path.join(await h.tempDir('out-b'), 'fetched');
    const queued = await b.api.fetch(cid, { outDir: outB, peers: [a.addr] });
    expect(queued).toMatchObject({ cid, kind: 'fetch', path: outB });
    // Asking again is the same entry.
    expect((await b.api.fetch(cid, { outDir: outB })).cid).toBe(cid);
    const fetched = await b.api.waitForModel(cid, (m) => m.state === 'seeding', 30_000, { context: () => b.proc.tail() });
    expect(fetched).toMatchObject({ kind: 'fetch', bytes: SMALL_TOTAL, verifiedBytes: SMALL_TOTAL, path: outB });
    expect(fetched.downloaded).toBeGreaterThanOrEqual(SMALL_TOTAL);
    expect(await compareFolders(src, outB)).toEqual([]);

    // A saw B connect and counted what it uploaded.
    const peers: Array<{ peerId: string, addrs: string[], direction: string, openFor: number }> = await a.api.ok('/api/v1/peers');
    const fromB = peers.filter((p) => p.peerId === b.ready.peerId);
    expect(fromB.length, JSON.stringify(peers)).toBeGreaterThan(0);
    expect(fromB.some((p) => p.direction === 'inbound'), JSON.stringify(peers)).toBe(true); // B dialled A (bootstrap)
    expect(fromB[0].addrs[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\//);
    const aStatus = await a.api.ok('/api/v1/status');
    expect(aStatus.connections).toBeGreaterThanOrEqual(1);
    expect(aStatus.uploaded).toBeGreaterThanOrEqual(SMALL_TOTAL);
    expect((await a.api.model(cid))!.uploaded).toBeGreaterThanOrEqual(SMALL_TOTAL);
    const metrics = await a.api.get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.text).toMatch(/^# (HELP|TYPE) /m);
    const uploadedLine = metrics.text.split('\n').find((l) => l.includes(cid) && /uploaded/.test(l));
    expect(uploadedLine, metrics.text.slice(0, 2000)).toBeDefined();
    expect(Number(uploadedLine!.split(' ').at(-1))).toBeGreaterThanOrEqual(SMALL_TOTAL);

    // ---- DELETE stops seeding; the folder stays
    const del = await b.api.request('DELETE', `/api/v1/models/${encodeURIComponent(cid)}`);
    expect(del.status, del.text).toBe(204);
    expectError(await b.api.get(`/api/v1/models/${cid}`), 404);
    expect(await b.api.models()).toEqual([]);
    expect(await compareFolders(src, outB)).toEqual([]);
    expectError(await b.api.request('DELETE', `/api/v1/models/${encodeURIComponent(cid)}`), 404);

    // ---- SIGTERM: exit 0 and api.json removed (so the CLI stops sending work to it)
    a.proc.signal('SIGTERM');
    expect(fmtExit(await a.proc.waitForExit(15_000)), a.proc.tail()).toBe('code 0');
    expect(await exists(path.join(dataA, 'api.json'))).toBe(false);
    expect(await compareFolders(path.join(allowed, 'model'), src)).toEqual([]);
  });

  it('--allow-folder holds for fetch outputs that do not exist yet (.., symlinks)', { timeout: 30_000 }, async () => {
    const allowed = await h.tempDir('allowed');
    const outside = await h.tempDir('outside');
    await fs.symlink(outside, path.join(allowed, 'link'));
    const d = await startDaemon(h, 'daemon', await h.tempDir('data'), { extra: ['--allow-folder', allowed] });

    // A new folder inside the allowed one is fine (an output folder usually does not exist yet).
    const inside = await d.api.post('/api/v1/fetches', { cid: await randomCid(), outDir: path.join(allowed, 'new', 'model') });
    expect(inside.status, inside.text).toBe(202);
    const cid = inside.body.cid as string;
    // Paths that name the allowed folder but land outside it, where the fetch would write.
    const escapes = [
      `${allowed}/../${path.basename(outside)}/dotdot`, // not normalised: '..' after the allowed prefix
      `${allowed}/new/../../${path.basename(outside)}/dotdot2`,
      path.join(allowed, 'link', 'via-symlink'), // a symlink inside the allowed folder pointing out
    ];
    for (const outDir of escapes) {
      const res = await d.api.post('/api/v1/fetches', { cid: await randomCid(), outDir });
      expectError(res, 403);
    }
    // Seeding checks the real path too: a symlink inside the allowed folder that points out.
    await makeModelFolder(outside, SMALL.slice(0, 1), 'outside');
    expectError(await d.api.post('/api/v1/seeds', { folder: path.join(allowed, 'link') }), 403, /real path/);
    expect((await d.api.models()).map((m) => m.cid)).toEqual([cid]);
    await new Promise((r) => setTimeout(r, 500));
    expect((await fs.readdir(outside)).sort()).toEqual(['config.json']);
  });

  it('without --allow-folder, a fetch never writes into the data dir or a folder above it', { timeout: 30_000 }, async () => {
    const parent = await h.tempDir('home');
    const dataDir = path.join(parent, 'share', 'p2pweights');
    await fs.mkdir(dataDir, { recursive: true });
    const elsewhere = await h.tempDir('elsewhere');
    await fs.symlink(dataDir, path.join(elsewhere, 'innocent-looking'));
    const d = await startDaemon(h, 'daemon', dataDir);
    // A manifest's paths are relative to the output folder: with the output folder above the
    // data dir, a release holding share/p2pweights/peer.key would overwrite the node's key.
    const overlapping = [
      dataDir,
      path.join(dataDir, 'releases'),
      path.join(dataDir, 'models'), // the downloads folder itself (its subfolders are fine)
      parent,
      path.join(parent, 'share'),
      path.join(elsewhere, 'innocent-looking'), // a symlink to the data dir
      path.join(elsewhere, 'innocent-looking', 'new'),
    ];
    for (const outDir of overlapping) {
      expectError(await d.api.post('/api/v1/fetches', { cid: await randomCid(), outDir }), 403, /data dir/);
    }
    expect(await d.api.models()).toEqual([]);
    // The default and the downloads folder's subfolders, and any other folder, are fine.
    expect((await d.api.post('/api/v1/fetches', { cid: await randomCid() })).status).toBe(202);
    expect((await d.api.post('/api/v1/fetches', { cid: await randomCid(), outDir: path.join(dataDir, 'models', 'mine') })).status).toBe(202);
    expect((await d.api.post('/api/v1/fetches', { cid: await randomCid(), outDir: path.join(elsewhere, 'model') })).status).toBe(202);
    expect(await d.api.models()).toHaveLength(3);
  });

  it('a seeded folder that changes on disk becomes "changed" and is no longer served', { timeout: 60_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, SMALL, 'changed');
    const original = await h.tempDir('orig'); // the same bytes (deterministic), kept unchanged
    await makeModelFolder(original, SMALL, 'changed');
    // --check-interval 1: the daemon looks for changed folders every second (default 30 s).
    const a = await startDaemon(h, 'daemon-a', await h.tempDir('data-a'), { extra: ['--check-interval', '1'] });
    const { cid } = await a.api.seed(src);

    // The size of one file changes (a re-download, an edit …).
    await fs.appendFile(path.join(src, 'weights.safetensors'), Buffer.from('tampered'));
    const changed = await a.api.waitForModel(cid, (m) => m.state === 'changed', 10_000, { context: () => a.proc.tail() });
    expect(changed.error).toMatch(/weights\.safetensors/);
    expect(changed.error).toMatch(/changed/);

    const out = await h.tempDir('out');
    const f = h.fetch('fetch', cid, { out, dataDir: await h.tempDir('data-f'), peers: [a.addr], extra: ['--no-daemon', '--find-timeout', '5'] });
    const exit = await f.waitForExit(30_000);
    expect(exit.code, f.tail()).not.toBe(0);
    expect(exit.signal).toBeNull();
    expect(f.errorLines().length, f.tail()).toBeGreaterThan(0);
    expect(f.all('done')).toEqual([]);
    // Nothing wrong is visible: no final file differs from what was published.
    expect(await badVisibleFiles(original, out)).toEqual([]);
    expect(await exists(path.join(out, 'weights.safetensors'))).toBe(false);
    // The daemon still answers and still lists it, as changed.
    expect((await a.api.model(cid))?.state).toBe('changed');
  });

  it('a file that changes between checks is refused chunk by chunk, never served', { timeout: 60_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, SMALL, 'changed-now');
    const original = await h.tempDir('orig');
    await makeModelFolder(original, SMALL, 'changed-now');
    // Default check interval (30 s): the daemon still lists the seed as seeding, but every chunk
    // read checks size and mtime, so the changed file is not served.
    const a = await startDaemon(h, 'daemon-a', await h.tempDir('data-a'));
    const { cid } = await a.api.seed(src);
    await fs.appendFile(path.join(src, 'weights.safetensors'), Buffer.from('tampered'));

    const out = await h.tempDir('out');
    const f = h.fetch('fetch', cid, { out, dataDir: await h.tempDir('data-f'), peers: [a.addr], extra: ['--no-daemon', '--find-timeout', '5'] });
    const exit = await f.waitForExit(40_000);
    expect(exit.code, f.tail()).not.toBe(0);
    expect(f.errorLines().length, f.tail()).toBeGreaterThan(0);
    expect(f.all('done')).toEqual([]);
    expect(await badVisibleFiles(original, out)).toEqual([]);
    expect(await exists(path.join(out, 'weights.safetensors'))).toBe(false);
    // The seeder said why: the file changed on disk (and the fetcher dropped it for that).
    const dropped = f.all<CliEvent & { reason: string }>('peer-dropped');
    expect(dropped.map((e) => e.reason).join('\n'), f.tail()).toMatch(/weights\.safetensors changed on disk/);
    // Unchanged files may have come through, and if so they are right (checked above).
  });
});
