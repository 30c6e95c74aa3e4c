/**
 * The CLI with a running daemon (seed and fetch hand their work to it; ls, status and rm ask
 * it), the API token rule when the API is bound beyond loopback, and the daemon's upload limit.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  compareFolders, Harness, hashTree, LOCAL_ONLY, makeModelFolder, MiB, totalSize,
  type CliEvent, type DoneEvent, type FileSpec,
} from './harness.js';
import { startDaemon, type Model } from './daemon-harness.js';

const SMALL: FileSpec[] = [
  { path: 'config.json', size: 600 },
  { path: 'model.safetensors', size: 5 * MiB + 321 },
  { path: 'tokenizer.json', size: 200_000 },
];
const SMALL_TOTAL = totalSize(SMALL);

interface ModelsEvent extends CliEvent { models: Model[] }

describe('CLI through the daemon', () => {
  const h = new Harness();
  afterEach(() => h.cleanup(), 30_000);

  it('seed, fetch --wait, ls, status and rm go to the daemon of the data dir', { timeout: 60_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, SMALL, 'daemon-cli');
    const before = await hashTree(src);
    const dataA = await h.tempDir('data-a');
    const dataB = await h.tempDir('data-b');
    const a = await startDaemon(h, 'daemon-a', dataA);
    const b = await startDaemon(h, 'daemon-b', dataB, { bootstrap: [a.addr] });

    // `seed` hands the folder to A and returns; A goes on seeding it.
    const seed = await h.run('seed', ['seed', src, '--data-dir', dataA, ...LOCAL_ONLY], 30_000);
    expect(seed.exitInfo?.code, seed.tail()).toBe(0);
    expect(seed.otherStdout, seed.tail()).toHaveLength(1); // stdout: the CID, nothing else
    const cid = seed.otherStdout[0].trim();
    expect(cid).toMatch(/^b[a-z2-7]{20,}$/);
    expect(await a.api.model(cid)).toMatchObject({ state: 'seeding', kind: 'seed', path: src, bytes: SMALL_TOTAL });
    // The daemon seeds with its own key and chunk size: a --key is refused, not silently ignored.
    const withKey = await h.run('seed-key', ['seed', src, '--data-dir', dataA, '--key', path.join(dataA, 'other.key'), ...LOCAL_ONLY], 30_000);
    expect(withKey.exitInfo?.code).not.toBe(0);
    expect(withKey.errorLines().join('\n'), withKey.tail()).toMatch(/daemon/);

    // `fetch --wait` on B (found through the DHT that B joined through A): a done line, exit 0.
    const outB = path.join(await h.tempDir('out-b'), 'model');
    const fetch = await h.run('fetch', ['fetch', cid, '--data-dir', dataB, '-o', outB, '--wait', '--json', ...LOCAL_ONLY], 45_000);
    expect(fetch.exitInfo?.code, `${fetch.tail()}\n${b.proc.tail()}`).toBe(0);
    const added = await fetch.waitFor('added', 1);
    expect(added).toMatchObject({ cid, kind: 'fetch' });
    const done = await fetch.waitFor<DoneEvent>('done', 1);
    expect(done).toMatchObject({ cid, path: outB, bytes: SMALL_TOTAL });
    expect(await compareFolders(src, outB)).toEqual([]);
    // B keeps seeding what it fetched.
    expect(await b.api.model(cid)).toMatchObject({ state: 'seeding', kind: 'fetch', path: outB });

    // ls / status, JSON and text.
    const lsB = await h.run('ls-b', ['ls', '--data-dir', dataB, '--json'], 15_000);
    expect(lsB.exitInfo?.code, lsB.tail()).toBe(0);
    const listed = (await lsB.waitFor<ModelsEvent>('models', 1)).models;
    expect(listed.map((m) => [m.cid, m.state, m.kind])).toEqual([[cid, 'seeding', 'fetch']]);
    const lsA = await h.run('ls-a', ['ls', '--data-dir', dataA], 15_000);
    expect(lsA.exitInfo?.code, lsA.tail()).toBe(0);
    const row = lsA.otherStdout.find((l) => l.includes(cid));
    expect(row, lsA.otherStdout.join('\n')).toBeDefined();
    expect(row).toMatch(/seeding/);
    const status = await h.run('status', ['status', '--data-dir', dataA, '--json'], 15_000);
    expect(status.exitInfo?.code, status.tail()).toBe(0);
    expect(await status.waitFor('status', 1)).toMatchObject({ peerId: a.ready.peerId, api: a.ready.api, models: 1 });

    // rm: A stops seeding; the folder seeded in place stays, untouched.
    const rm = await h.run('rm', ['rm', cid, '--data-dir', dataA], 15_000);
    expect(rm.exitInfo?.code, rm.tail()).toBe(0);
    const lsAfter = await h.run('ls-after', ['ls', '--data-dir', dataA, '--json'], 15_000);
    expect((await lsAfter.waitFor<ModelsEvent>('models', 1)).models).toEqual([]);
    expect(await hashTree(src)).toEqual(before);
    // rm of something it does not hold: an error, exit non-zero.
    const rmAgain = await h.run('rm-again', ['rm', cid, '--data-dir', dataA], 15_000);
    expect(rmAgain.exitInfo?.code).not.toBe(0);
    expect(rmAgain.errorLines().join('\n'), rmAgain.tail()).toMatch(/404|no model/);

    // No daemon for a data dir: ls says to start one. A killed daemon leaves a stale api.json
    // (its pid is gone): the same.
    const none = await h.run('ls-none', ['ls', '--data-dir', await h.tempDir('empty')], 15_000);
    expect(none.exitInfo?.code).not.toBe(0);
    expect(none.errorLines().join('\n'), none.tail()).toMatch(/no p2pweights daemon is running.*start one/);
    a.proc.signal('SIGKILL');
    await a.proc.waitForExit(10_000);
    const stale = await h.run('ls-stale', ['ls', '--data-dir', dataA], 15_000);
    expect(stale.exitInfo?.code).not.toBe(0);
    expect(stale.errorLines().join('\n'), stale.tail()).toMatch(/no p2pweights daemon is running/);
  });

  it('beyond loopback the API needs the token; the CLI reads it from the data dir', { timeout: 45_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, SMALL.slice(0, 1), 'token');
    const data = await h.tempDir('data');
    // 0.0.0.0 listens on every interface; this test only connects to 127.0.0.1.
    const d = await startDaemon(h, 'daemon', data, { api: '0.0.0.0:0' });
    const token = d.ready.token;
    expect(typeof token).toBe('string');
    expect(token!.length).toBeGreaterThanOrEqual(32);
    const tokenFile = path.join(data, 'api-token');
    expect((await fs.readFile(tokenFile, 'utf8')).trim()).toBe(token);
    expect((await fs.stat(tokenFile)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await fs.readFile(path.join(data, 'api.json'), 'utf8'))).toMatchObject({ token: true });

    // Without the token (or with a wrong one): 401 on every API route, and a POST changes nothing.
    for (const route of ['/api/v1/status', '/api/v1/models', '/api/v1/peers', '/api/v1/events', '/metrics']) {
      const res = await d.api.get(route, { token: null });
      expect(res.status, `${route}: ${res.text}`).toBe(401);
      expect(res.body.error).toMatch(/token/);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    expect((await d.api.post('/api/v1/seeds', { folder: src }, { token: null })).status).toBe(401);
    expect((await d.api.post('/api/v1/seeds', { folder: src }, { token: `${token}x` })).status).toBe(401);
    expect((await d.api.request('POST', '/api/v1/seeds', { json: { folder: src }, token: null, headers: { authorization: `Basic ${token}` } })).status).toBe(401);
    expect(await d.api.models()).toEqual([]); // (with the token)
    // Open to anyone: the health check and the dashboard's files (the page asks for the token).
    expect((await d.api.get('/healthz', { token: null })).status).toBe(200);
    expect((await d.api.get('/', { token: null })).status).toBe(200);

    // With the token: 2xx.
    const model = await d.api.seed(src);
    expect((await d.api.models()).map((m) => m.cid)).toEqual([model.cid]);
    expect((await d.api.get('/api/v1/status')).status).toBe(200);

    // The CLI finds the token in <data-dir>/api-token.
    const ls = await h.run('ls', ['ls', '--data-dir', data, '--json'], 15_000);
    expect(ls.exitInfo?.code, ls.tail()).toBe(0);
    expect((await ls.waitFor<ModelsEvent>('models', 1)).models.map((m) => m.cid)).toEqual([model.cid]);
    const rm = await h.run('rm', ['rm', model.cid, '--data-dir', data], 15_000);
    expect(rm.exitInfo?.code, rm.tail()).toBe(0);
    expect(await d.api.models()).toEqual([]);
  });

  it('--max-upload-rate bounds what a daemon serves', { timeout: 60_000 }, async () => {
    const files: FileSpec[] = [
      { path: 'config.json', size: 500 },
      { path: 'model.safetensors', size: 24 * MiB },
    ];
    const total = totalSize(files);
    const src = await h.tempDir('src');
    await makeModelFolder(src, files, 'limits');
    const d = await startDaemon(h, 'daemon', await h.tempDir('data'), { extra: ['--max-upload-rate', '4'] });
    expect((await d.api.ok('/api/v1/status')).limits.uploadRate).toBe(4_000_000);
    const { cid } = await d.api.seed(src);

    const out = await h.tempDir('out');
    const f = h.fetch('fetch', cid, { out, dataDir: await h.tempDir('data-f'), peers: [d.addr], extra: ['--no-daemon'] });
    const exit = await f.waitForExit(45_000);
    expect(exit.code, f.tail()).toBe(0);
    const done = await f.waitFor<DoneEvent & { seconds: number }>('done', 1);
    expect(done.bytes).toBe(total);
    expect(await compareFolders(src, out)).toEqual([]);
    // 25.2 MB at 4 MB/s with a one-second burst cannot take less than ~5.3 s; 3 s leaves room
    // for a generous burst and clock granularity while still failing an unlimited transfer
    // (well under a second here).
    expect(done.seconds).toBeGreaterThanOrEqual(3);
    expect((await d.api.model(cid))!.uploaded).toBeGreaterThanOrEqual(total);
  });
});
