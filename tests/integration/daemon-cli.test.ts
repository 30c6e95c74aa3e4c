/**
 * The CLI with a running daemon (seed and fetch hand their work to it; ls, status, rm and
 * login-url ask it), the API token on loopback with a hostile local client, --trust through the
 * daemon for CIDs it already holds, and the daemon's upload limit.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLI, compareFolders, exists, Harness, hashTree, LOCAL_ONLY, makeModelFolder, MiB, NODE, totalSize,
  type CliEvent, type DoneEvent, type FileSpec,
} from './harness.js';
import { readApiToken, startDaemon, type Model } from './daemon-harness.js';

/** util-linux `script` runs a command on a pseudo-terminal: how a user starts the daemon by hand. */
const HAVE_SCRIPT = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

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

  it('on loopback the API needs the token too; a hostile local client changes nothing; the CLI reads the token from the data dir', { timeout: 45_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, SMALL.slice(0, 1), 'token');
    const data = await h.tempDir('data');
    await fs.chmod(data, 0o755); // as a careless install leaves it: the daemon makes it private
    // A token others could read is taken as leaked: the daemon makes a new one.
    const tokenFile = path.join(data, 'api-token');
    const leaked = 'leaked-token-0123456789abcdefghijklmnopqrstuvwxyz';
    await fs.writeFile(tokenFile, leaked + '\n', { mode: 0o644 });
    await fs.chmod(tokenFile, 0o644);
    const d = await startDaemon(h, 'daemon', data); // 127.0.0.1
    const token = d.token;
    expect(token).not.toBe(leaked);
    expect((await fs.stat(tokenFile)).mode & 0o777).toBe(0o600);
    expect((await fs.stat(data)).mode & 0o777).toBe(0o700);
    expect(d.proc.stderr).toMatch(/api-token was not a private file/);
    expect((await d.api.get('/api/v1/status', { token: leaked })).status).toBe(401);
    expect(JSON.parse(await fs.readFile(path.join(data, 'api.json'), 'utf8'))).toMatchObject({ token: true });
    const model = await d.api.seed(src);

    // A local process that cannot read the data dir: no token, a wrong one, the token in the URL
    // query, a cross-site Origin (a web page), a rebound DNS name as Host. All refused.
    const routes: Array<[string, string, unknown?]> = [
      ['GET', '/api/v1/status'], ['GET', '/api/v1/models'], ['GET', '/api/v1/peers'], ['GET', '/api/v1/events'], ['GET', '/metrics'],
      ['POST', '/api/v1/seeds', { folder: src }], ['POST', '/api/v1/fetches', { cid: model.cid, outDir: path.join(src, 'x') }],
      ['DELETE', `/api/v1/models/${model.cid}`],
    ];
    const attempts: Array<[string, number, { token?: string | null; headers?: Record<string, string>; query?: string }]> = [
      ['no token', 401, { token: null }],
      ['a wrong token', 401, { token: `${token}x` }],
      ['the token as Basic auth', 401, { token: null, headers: { authorization: `Basic ${token}` } }],
      ['the token in the query', 401, { token: null, query: `?token=${token}` }],
      ['a cross-site Origin', 403, { headers: { origin: 'http://evil.example' } }],
      ['a cross-site Origin, no token', 403, { token: null, headers: { origin: 'http://evil.example' } }],
      ['a rebound DNS name as Host', 403, { headers: { host: `evil.example:${new URL(d.ready.api).port}` } }],
    ];
    for (const [what, status, opts] of attempts) {
      for (const [method, route, json] of routes) {
        const res = await d.api.request(method, route + (opts.query ?? ''), { json, token: opts.token, headers: opts.headers });
        expect(res.status, `${what}: ${method} ${route}: ${res.text}`).toBe(status);
        expect(res.body.error, `${what}: ${method} ${route}`).toMatch(status === 401 ? /token/ : /cross-site|Host/);
        if (status === 401) expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      }
    }
    // Nothing changed: the one model, still seeding; the folder as it was.
    expect((await d.api.models()).map((m) => [m.cid, m.state])).toEqual([[model.cid, 'seeding']]);
    expect(await fs.readdir(src)).toEqual(['config.json']);
    // Open to anyone: the health check and the dashboard's files (the page asks for the token).
    expect((await d.api.get('/healthz', { token: null })).status).toBe(200);
    expect((await d.api.get('/', { token: null })).status).toBe(200);

    // The token is in no output of the daemon (stdout, --json, stderr: logs).
    expect(JSON.stringify(d.proc.events) + d.proc.otherStdout.join('\n') + d.proc.stderr).not.toContain(token);

    // The CLI finds the token in <data-dir>/api-token; login-url gives the dashboard's URL.
    const ls = await h.run('ls', ['ls', '--data-dir', data, '--json'], 15_000);
    expect(ls.exitInfo?.code, ls.tail()).toBe(0);
    expect((await ls.waitFor<ModelsEvent>('models', 1)).models.map((m) => m.cid)).toEqual([model.cid]);
    const login = await h.run('login-url', ['login-url', '--data-dir', data], 15_000);
    expect(login.exitInfo?.code, login.tail()).toBe(0);
    expect(login.otherStdout).toEqual([`${d.ready.api}/#token=${token}`]);
    const rm = await h.run('rm', ['rm', model.cid, '--data-dir', data], 15_000);
    expect(rm.exitInfo?.code, rm.tail()).toBe(0);
    expect(await d.api.models()).toEqual([]);
    // Without the token file the CLI says so, instead of running on its own beside the daemon.
    await fs.rm(tokenFile);
    const blind = await h.run('ls-no-token', ['ls', '--data-dir', data], 15_000);
    expect(blind.exitInfo?.code, blind.tail()).toBe(1);
    expect(blind.errorLines().join('\n'), blind.tail()).toMatch(/a daemon runs for .* but it has no API token/);
  });

  // Skipped only without util-linux `script`, which gives the daemon a pseudo-terminal.
  it.skipIf(!HAVE_SCRIPT)('on a terminal, the daemon shows the login URL once (and only there)', { timeout: 45_000 }, async () => {
    const data = await h.tempDir('data');
    const quote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
    const command = [NODE, CLI, 'daemon', '--data-dir', data, '--api', '127.0.0.1:0', ...LOCAL_ONLY].map(quote).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
    try {
      const deadline = Date.now() + 30_000;
      while (!/#token=\S+/.test(out) && Date.now() < deadline && child.exitCode == null) await new Promise((r) => setTimeout(r, 100));
      const token = await readApiToken(data);
      const url = /(http:\/\/127\.0\.0\.1:\d+\/#token=\S+)/.exec(out)?.[1];
      expect(url, out).toMatch(new RegExp(`/#token=${token}$`));
      expect(out.split(token).length - 1, 'the token is shown once').toBe(1);
    } finally {
      try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
      await new Promise((r) => { if (child.exitCode != null) r(null); else child.once('close', r); setTimeout(r, 10_000); });
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
    }
  });

  it('fetch --trust holds for a CID the daemon already holds, and daemon --trust binds every API fetch', { timeout: 120_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, SMALL.slice(0, 1), 'trust');
    const data = await h.tempDir('data');
    const other = await h.keygen(path.join(await h.tempDir('keys'), 'b.key')); // publisher B
    let d = await startDaemon(h, 'daemon', data);
    const held = await d.api.seed(src); // signed by the daemon's own publisher key: A
    const publisherA = held.publisher as string;
    expect(publisherA).toMatch(/^12D3KooW/);
    expect(publisherA).not.toBe(other.publisher);

    // Through the daemon (the CLI hands the fetch to it): refused, although the daemon has the CID.
    const out = path.join(await h.tempDir('out'), 'model');
    const viaDaemon = await h.run('fetch-daemon', ['fetch', held.cid, '--trust', other.publisher, '-o', out, '--data-dir', data, ...LOCAL_ONLY], 30_000);
    expect(viaDaemon.exitInfo?.code, viaDaemon.tail()).toBe(1);
    expect(viaDaemon.errorLines().join('\n'), viaDaemon.tail()).toMatch(new RegExp(`signed by ${publisherA}, which is not among the trusted publishers`));
    // Standalone, from the same data dir (which holds the release): refused as well.
    const standalone = await h.run('fetch-alone', ['fetch', held.cid, '--trust', other.publisher, '-o', out, '--data-dir', data, '--no-daemon', '--find-timeout', '5', ...LOCAL_ONLY], 30_000);
    expect(standalone.exitInfo?.code, standalone.tail()).toBe(1);
    expect(standalone.errorLines().join('\n'), standalone.tail()).toMatch(/not among the trusted publishers/);
    expect(await exists(out)).toBe(false);
    // The right publisher is accepted (the held model answers).
    expect((await d.api.fetch(held.cid, { trust: [publisherA] })).cid).toBe(held.cid);
    expect(await d.api.models()).toHaveLength(1);

    // A second daemon fetched it; restarted with --trust B, it no longer serves what B did not sign.
    const dataE = await h.tempDir('data-e');
    let e = await startDaemon(h, 'daemon-e', dataE, { bootstrap: [d.addr] });
    await e.api.fetch(held.cid, { peers: [d.addr] });
    await e.api.waitForModel(held.cid, (m) => m.state === 'seeding', 30_000, { context: () => e.proc.tail() });
    e.proc.signal('SIGTERM');
    await e.proc.waitForExit(15_000);
    e = await startDaemon(h, 'daemon-e-trust', dataE, { extra: ['--trust', other.publisher] });
    const refused = await e.api.waitForModel(held.cid, (m) => m.state !== 'hashing', 15_000);
    expect(refused.state).toBe('failed');
    expect(refused.error).toMatch(/not among the trusted publishers/);

    // Restarted with --trust B: every API fetch is bound by it, with or without its own list.
    d.proc.signal('SIGTERM');
    await d.proc.waitForExit(15_000);
    d = await startDaemon(h, 'daemon-trust', data, { extra: ['--trust', other.publisher] });
    expect((await d.api.waitForModel(held.cid, (m) => m.state === 'seeding', 15_000)).publisher).toBe(publisherA);
    const none = await d.api.post('/api/v1/fetches', { cid: held.cid });
    expect(none.status, none.text).toBe(400);
    expect(none.body.error).toMatch(/not among the trusted publishers/);
    const narrower = await d.api.post('/api/v1/fetches', { cid: held.cid, trust: [publisherA] });
    expect(narrower.status, narrower.text).toBe(400);
    expect(narrower.body.error).toMatch(/--trust list/);
    expect((await d.api.models()).map((m) => m.cid)).toEqual([held.cid]);
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
