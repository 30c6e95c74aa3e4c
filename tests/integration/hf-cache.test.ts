/**
 * `fetch --include/--exclude` and `fetch --hf-cache` with real CLI processes, then seeding that
 * cache entry again with `seed --hf-cache`; the same through a daemon's fetch API. Bytes on disk
 * are compared with the source, and the cache layout is checked as huggingface_hub reads it.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { CID } from 'multiformats/cid';
import { afterEach, describe, expect, it } from 'vitest';
import { Harness, listFiles, localAddr, type DoneEvent, type ProgressEvent } from './harness.js';
import { startDaemon } from './daemon-harness.js';
import { hfModelFiles, sha256Hex, writeHfFolder, type HfFile } from './hf-folder.js';

const REPO = 'acme/tiny-esrgan';
const ENTRY = 'models--acme--tiny-esrgan';

function commitOf(cid: string): string {
  return Buffer.from(CID.parse(cid).multihash.digest.subarray(0, 20)).toString('hex');
}

/** Checks snapshots/<commit>/<path> -> ../../blobs/<sha256> for `files`, and refs/main. */
async function expectCacheEntry(cacheDir: string, commit: string, files: HfFile[]): Promise<void> {
  const root = path.join(cacheDir, ENTRY);
  expect(await fs.readFile(path.join(root, 'refs', 'main'), 'utf8')).toBe(commit);
  for (const f of files) {
    const link = path.join(root, 'snapshots', commit, ...f.path.split('/'));
    expect((await fs.lstat(link)).isSymbolicLink(), f.path).toBe(true);
    const target = await fs.readlink(link);
    const depth = f.path.split('/').length - 1;
    expect(target).toBe(`${'../'.repeat(depth + 2)}blobs/${sha256Hex(f.bytes)}`);
    expect(sha256Hex(await fs.readFile(path.join(root, 'blobs', sha256Hex(f.bytes))))).toBe(sha256Hex(f.bytes));
  }
  expect((await listFiles(path.join(root, 'snapshots', commit))).sort()).toEqual(files.map((f) => f.path).sort());
  expect(await fs.stat(path.join(root, '.p2pweights-staging')).catch(() => undefined)).toBeUndefined();
}

describe('partial fetch and the Hugging Face cache', () => {
  const h = new Harness();
  afterEach(() => h.cleanup(), 30_000);

  it('fetches only --include/--exclude files, writes an HF cache entry, resumes from its blobs, and seeds it again', { timeout: 120_000 }, async () => {
    const files = hfModelFiles(700_000);
    const src = await h.tempDir('src');
    await writeHfFolder(src, files);
    const seeder = await h.seed('seeder', src, { dataDir: await h.tempDir('data-s'), name: REPO });
    const peer = localAddr(seeder.ready);
    const { cid } = seeder.ready;

    // ---- --include then --exclude, as hf download
    const out = await h.tempDir('out');
    const partial = h.fetch('fetch-partial', cid, { out, dataDir: await h.tempDir('data-p'), peers: [peer],
      extra: ['--include', '*.json', '--exclude', 'model.safetensors.index.json'] });
    expect((await partial.waitForExit(60_000)).code, partial.tail()).toBe(0);
    const wanted = files.filter((f) => f.path === 'config.json' || f.path === 'tokenizer/tokenizer.json');
    expect((await listFiles(out)).sort()).toEqual(wanted.map((f) => f.path).sort()); // no shard, no state folder
    for (const f of wanted) expect(sha256Hex(await fs.readFile(path.join(out, f.path)))).toBe(sha256Hex(f.bytes));
    const partialDone = await partial.waitFor<DoneEvent>('done', 1);
    const wantedBytes = wanted.reduce((n, f) => n + f.bytes.length, 0);
    expect(partialDone.bytes).toBe(wantedBytes);
    expect(partialDone.downloaded).toBe(wantedBytes);
    expect(partial.all<ProgressEvent>('progress').every((p) => p.total === wantedBytes)).toBe(true);

    // A selection that matches nothing is a clear error, not an empty folder.
    const none = h.fetch('fetch-none', cid, { out: await h.tempDir('out-none'), dataDir: await h.tempDir('data-n'), peers: [peer], extra: ['--include', '*.gguf'] });
    expect((await none.waitForExit(60_000)).code).toBe(1);
    expect(none.stderr).toMatch(/no file of release "acme\/tiny-esrgan" matches/);

    // ---- --hf-cache DIR: blobs, relative links, refs/main
    const cacheDir = await h.tempDir('hf-cache');
    const dataF = await h.tempDir('data-f');
    const toCache = h.start('fetch-cache', ['fetch', cid, '--hf-cache', cacheDir, '--data-dir', dataF, '--json', '--no-mdns', '--no-upnp', '--no-default-bootstrap',
      '--dht-protocol', '/p2pweights-test/kad/1.0.0', '--listen', '/ip4/127.0.0.1/tcp/0', '--peer', peer]);
    expect((await toCache.waitForExit(60_000)).code, toCache.tail()).toBe(0);
    const commit = commitOf(cid);
    const done = await toCache.waitFor<DoneEvent>('done', 1);
    expect(done.path).toBe(path.join(cacheDir, ENTRY, 'snapshots', commit));
    await expectCacheEntry(cacheDir, commit, files);

    // ---- resumable from what the cache holds: drop one blob and one link, fetch again
    const shard = files[2];
    await fs.rm(path.join(cacheDir, ENTRY, 'blobs', sha256Hex(shard.bytes)));
    await fs.rm(path.join(cacheDir, ENTRY, 'snapshots', commit, 'config.json'));
    const again = h.start('fetch-cache-2', ['fetch', cid, '--hf-cache', cacheDir, '--data-dir', dataF, '--json', '--no-mdns', '--no-upnp', '--no-default-bootstrap',
      '--dht-protocol', '/p2pweights-test/kad/1.0.0', '--listen', '/ip4/127.0.0.1/tcp/0', '--peer', peer]);
    expect((await again.waitForExit(60_000)).code, again.tail()).toBe(0);
    await expectCacheEntry(cacheDir, commit, files);
    const againDone = await again.waitFor<DoneEvent>('done', 1);
    expect(againDone.downloaded).toBe(shard.bytes.length); // only the missing blob crossed the wire

    // ---- seed --hf-cache DIR org/name: the snapshot, its links into blobs/ allowed
    await seeder.proc.signal('SIGTERM');
    await seeder.proc.waitForExit(15_000);
    const reseed = h.start('reseed', ['seed', '--hf-cache', cacheDir, REPO, '--data-dir', await h.tempDir('data-r'), '--json', '--no-mdns', '--no-upnp',
      '--no-default-bootstrap', '--dht-protocol', '/p2pweights-test/kad/1.0.0', '--listen', '/ip4/127.0.0.1/tcp/0']);
    const ready = await reseed.waitFor<any>('ready', 30_000);
    const out2 = await h.tempDir('out2');
    const fromCache = h.fetch('fetch-from-cache', ready.cid, { out: out2, dataDir: await h.tempDir('data-g'), peers: [localAddr(ready)] });
    expect((await fromCache.waitForExit(60_000)).code, fromCache.tail()).toBe(0);
    expect((await fromCache.waitFor<any>('manifest', 1)).name).toBe(REPO);
    for (const f of files) expect(sha256Hex(await fs.readFile(path.join(out2, f.path)))).toBe(sha256Hex(f.bytes));
  });

  it('fetch --hf-cache killed part-way resumes from its staging folder and fetches only the rest', { timeout: 120_000 }, async () => {
    const files: HfFile[] = [
      { path: 'config.json', bytes: Buffer.from('{"model_type":"resume"}') },
      { path: 'model.safetensors', bytes: Buffer.concat(Array.from({ length: 12 }, (_, i) => Buffer.alloc(4 * 1024 * 1024, i + 1))) },
    ];
    const total = files.reduce((n, f) => n + f.bytes.length, 0);
    const src = await h.tempDir('src');
    await writeHfFolder(src, files);
    const seeder = await h.seed('seeder', src, { dataDir: await h.tempDir('data-s'), name: REPO });
    const peer = localAddr(seeder.ready);
    const cacheDir = await h.tempDir('hf-cache');
    const dataF = await h.tempDir('data-f');
    const args = ['fetch', seeder.ready.cid, '--hf-cache', cacheDir, '--data-dir', dataF, '--json', '--no-mdns', '--no-upnp', '--no-default-bootstrap',
      '--dht-protocol', '/p2pweights-test/kad/1.0.0', '--listen', '/ip4/127.0.0.1/tcp/0', '--peer', peer];
    const first = h.start('fetch-1', args);
    await first.waitFor<ProgressEvent>('progress', 45_000, (e) => e.bytes >= total / 4);
    seeder.proc.signal('SIGSTOP'); // so the fetch cannot finish before the kill lands
    first.signal('SIGKILL');
    seeder.proc.signal('SIGCONT');
    expect((await first.waitForExit(10_000)).signal).toBe('SIGKILL');
    const commit = commitOf(seeder.ready.cid);
    // Nothing half-done is visible in the cache: no snapshot link, no ref, no unverified blob.
    expect(await fs.stat(path.join(cacheDir, ENTRY, 'refs', 'main')).catch(() => undefined)).toBeUndefined();
    expect(await fs.stat(path.join(cacheDir, ENTRY, 'snapshots')).catch(() => undefined)).toBeUndefined();
    expect(await fs.stat(path.join(cacheDir, ENTRY, 'blobs')).catch(() => undefined)).toBeUndefined();
    expect(await fs.stat(path.join(cacheDir, ENTRY, '.p2pweights-staging', commit, '.p2pweights')).then((s) => s.isDirectory())).toBe(true);

    const second = h.start('fetch-2', args);
    expect((await second.waitForExit(60_000)).code, second.tail()).toBe(0);
    await expectCacheEntry(cacheDir, commit, files);
    const done = await second.waitFor<DoneEvent>('done', 1);
    expect(done.bytes).toBe(total);
    expect(done.downloaded).toBeLessThan(total); // resumed: verified chunks were not fetched again
  });

  it('seed --hf-cache refuses a snapshot whose link leads outside the entry\'s blobs/', { timeout: 60_000 }, async () => {
    const cacheDir = await h.tempDir('hf-cache');
    const secretDir = await h.tempDir('secret');
    await fs.writeFile(path.join(secretDir, 'publisher.key'), 'not for the swarm');
    const commit = 'c'.repeat(40);
    const root = path.join(cacheDir, ENTRY);
    await fs.mkdir(path.join(root, 'snapshots', commit), { recursive: true });
    await fs.mkdir(path.join(root, 'blobs'), { recursive: true });
    await fs.mkdir(path.join(root, 'refs'), { recursive: true });
    await fs.writeFile(path.join(root, 'refs', 'main'), commit);
    await fs.writeFile(path.join(root, 'blobs', 'a'.repeat(64)), '{}');
    await fs.symlink(`../../blobs/${'a'.repeat(64)}`, path.join(root, 'snapshots', commit, 'config.json'));
    await fs.symlink(path.join(secretDir, 'publisher.key'), path.join(root, 'snapshots', commit, 'tokenizer.model'));
    const proc = await h.run('seed', ['seed', '--hf-cache', cacheDir, REPO, '--data-dir', await h.tempDir('data'), '--json', '--no-mdns', '--no-upnp',
      '--no-default-bootstrap', '--dht-protocol', '/p2pweights-test/kad/1.0.0', '--listen', '/ip4/127.0.0.1/tcp/0'], 30_000);
    expect(proc.exitInfo?.code).toBe(1);
    expect(proc.stderr).toMatch(/tokenizer\.model .*symlink to .*publisher\.key, outside the folder/);
    expect(proc.all('ready')).toEqual([]);
  });

  it('a daemon fetches only the --include files into an HF cache, and serves just those on /hf', { timeout: 90_000 }, async () => {
    const files = hfModelFiles(300_000);
    const src = await h.tempDir('src');
    await writeHfFolder(src, files);
    const a = await startDaemon(h, 'seeder', await h.tempDir('data-a'));
    const seeded = await a.api.seed(src, REPO);
    const b = await startDaemon(h, 'fetcher', await h.tempDir('data-b'));
    const cacheDir = await h.tempDir('hf-cache');
    const bad = await b.api.post('/api/v1/fetches', { cid: seeded.cid, include: [''] });
    expect(bad.status).toBe(400);
    const res = await b.api.post('/api/v1/fetches', { cid: seeded.cid, peers: [a.addr], include: ['config.json', 'tokenizer/'], hfCache: cacheDir });
    expect(res.status, res.text).toBe(202);
    const m = await b.api.waitForModel(seeded.cid, (x) => x.state === 'seeding', 60_000, { context: () => b.proc.tail() });
    const commit = commitOf(seeded.cid);
    expect(m.path).toBe(path.join(cacheDir, ENTRY, 'snapshots', commit));
    const wanted = files.filter((f) => f.path === 'config.json' || f.path.startsWith('tokenizer/'));
    await expectCacheEntry(cacheDir, commit, wanted);
    const got = await b.api.get(`/hf/${REPO}/resolve/main/config.json`);
    expect(got.status).toBe(200);
    expect(got.text).toBe(files[0].bytes.toString('utf8'));
    const shard = await b.api.get(`/hf/${REPO}/resolve/main/${files[1].path}`);
    expect(shard.status).toBe(404);
    expect(shard.headers['x-error-code']).toBe('EntryNotFound');
    const tree = await b.api.ok(`/hf/api/models/${REPO}/tree/main?recursive=true`);
    expect(tree.filter((e: any) => e.type === 'file').map((e: any) => e.path).sort()).toEqual(wanted.map((f) => f.path).sort());

    // A restart serves the same partial release from the cache snapshot again, and fetches nothing.
    b.proc.signal('SIGTERM');
    expect((await b.proc.waitForExit(20_000)).code).toBe(0);
    const b2 = await startDaemon(h, 'fetcher-2', b.dataDir);
    const again = await b2.api.waitForModel(seeded.cid, (x) => x.state === 'seeding', 30_000, { context: () => b2.proc.tail() });
    expect(again.downloaded).toBe(0);
    const got2 = await b2.api.get(`/hf/${REPO}/resolve/main/tokenizer/tokenizer.json`);
    expect(got2.status).toBe(200);
    expect(got2.text).toBe(files[4].bytes.toString('utf8'));
    expect((await b2.api.get(`/hf/${REPO}/resolve/main/${files[1].path}`)).headers['x-error-code']).toBe('EntryNotFound');
    await expectCacheEntry(cacheDir, commit, wanted);

    // `seed --hf-cache` next to the daemon hands the snapshot (and its blobs/ as a symlink root)
    // to it; the new release of the same name becomes `main`, the old one stays reachable by CID.
    const reseed = await h.run('reseed', ['seed', '--hf-cache', cacheDir, REPO, '--data-dir', b.dataDir, '--json'], 60_000);
    expect(reseed.exitInfo?.code, reseed.tail()).toBe(0);
    const added = await reseed.waitFor<any>('added', 1);
    expect(added.name).toBe(REPO);
    expect(added.cid).not.toBe(seeded.cid); // only the selected files: another manifest
    const head = await b2.api.request('HEAD', `/hf/${REPO}/resolve/main/config.json`);
    expect(head.status).toBe(200);
    expect(head.headers['x-repo-commit']).toBe(commitOf(added.cid));
    const old = await b2.api.request('HEAD', `/hf/${REPO}/resolve/${seeded.cid}/config.json`);
    expect(old.headers['x-repo-commit']).toBe(commit);
  });
});
