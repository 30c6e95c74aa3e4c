/**
 * The daemon's Hugging Face-compatible endpoint (`<api>/hf`) end to end: a real daemon process
 * seeds a small HF-style folder under the repo id `acme/tiny-esrgan`, and the real
 * @huggingface/hub client (listFiles, downloadFile, snapshotDownload, modelInfo) reads it with
 * `hubUrl`; every byte is compared with the source. Then hostile requests from a raw HTTP client:
 * path traversal, bad ranges, unknown repos and revisions, and a file of a fetch that is still
 * in progress, which must never be served.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { downloadFile, listFiles, listModels, modelInfo, snapshotDownload } from '@huggingface/hub';
import { CID } from 'multiformats/cid';
import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from './harness.js';
import { startDaemon, type ApiClient } from './daemon-harness.js';
import { hfModelFiles, sha256Hex, writeHfFolder, type HfFile } from './hf-folder.js';

const REPO = 'acme/tiny-esrgan';

/** The documented commit of a release: the first 20 bytes of its CID's sha2-256 digest, in hex. */
function commitOf(cid: string): string {
  return Buffer.from(CID.parse(cid).multihash.digest.subarray(0, 20)).toString('hex');
}

async function expectHfError(api: ApiClient, method: string, url: string, status: number, code: string | undefined, headers: Record<string, string> = {}): Promise<void> {
  const res = await api.request(method, url, { headers });
  expect(res.status, `${method} ${url}: ${res.text}`).toBe(status);
  expect(res.headers['x-error-code']).toBe(code);
  if (method !== 'HEAD') expect(typeof res.body?.error).toBe('string');
  expect(res.text).not.toMatch(/\n\s+at /);
}

describe('Hugging Face endpoint', () => {
  const h = new Harness();
  afterEach(() => h.cleanup(), 30_000);

  it('serves a seeded release to @huggingface/hub, byte for byte, and refuses hostile requests', { timeout: 90_000 }, async () => {
    const files: HfFile[] = hfModelFiles();
    const src = await h.tempDir('hf-src');
    await writeHfFolder(src, files);
    const d = await startDaemon(h, 'daemon', await h.tempDir('hf-data'));
    const model = await d.api.seed(src, REPO);
    expect(model.name).toBe(REPO);
    const commit = commitOf(model.cid);
    const hubUrl = `${d.ready.api}/hf`;
    const accessToken = `hf_${d.token}`; // HF_TOKEN = the API token

    // ---- modelInfo: id and sha
    const info = await modelInfo({ name: REPO, hubUrl, accessToken, additionalFields: ['sha', 'siblings' as any] }) as any;
    expect(info.name).toBe(REPO);
    expect(info.sha).toBe(commit);
    expect(info.siblings.map((s: any) => s.rfilename).sort()).toEqual(files.map((f) => f.path).sort());
    for (const s of info.siblings) {
      const f = files.find((x) => x.path === s.rfilename)!;
      expect(s.size).toBe(f.bytes.length);
      expect(s.lfs).toMatchObject({ sha256: sha256Hex(f.bytes), size: f.bytes.length });
    }

    // ---- listModels: what the daemon holds, by name
    const names: string[] = [];
    for await (const m of listModels({ hubUrl, accessToken })) names.push(m.name);
    expect(names).toEqual([REPO]);
    const byOwner: string[] = [];
    for await (const m of listModels({ hubUrl, accessToken, search: { owner: 'someone-else' } })) byOwner.push(m.name);
    expect(byOwner).toEqual([]);

    // ---- listFiles (recursive tree): sizes and LFS oids (sha-256)
    const listed: any[] = [];
    for await (const e of listFiles({ repo: REPO, hubUrl, accessToken, recursive: true })) listed.push(e);
    const listedFiles = listed.filter((e) => e.type === 'file');
    expect(listedFiles.map((e) => e.path).sort()).toEqual(files.map((f) => f.path).sort());
    expect(listed.filter((e) => e.type === 'directory').map((e) => e.path)).toEqual(['tokenizer']);
    for (const e of listedFiles) {
      const f = files.find((x) => x.path === e.path)!;
      expect(e.size).toBe(f.bytes.length);
      expect(e.lfs.oid).toBe(sha256Hex(f.bytes));
    }

    // ---- downloadFile: the Range bytes=0-0 probe, then the whole file
    for (const f of files) {
      const blob = await downloadFile({ repo: REPO, path: f.path, hubUrl, accessToken });
      expect(blob).not.toBeNull();
      expect(sha256Hex(new Uint8Array(await blob!.arrayBuffer()))).toBe(sha256Hex(f.bytes));
    }
    expect(await downloadFile({ repo: REPO, path: 'missing.bin', hubUrl, accessToken })).toBeNull(); // EntryNotFound -> null

    // ---- snapshotDownload into an HF cache: blobs, relative links, refs/main
    const cacheDir = await h.tempDir('hf-cache');
    const snapshot = await snapshotDownload({ repo: REPO, hubUrl, accessToken, cacheDir });
    expect(snapshot).toBe(path.join(cacheDir, 'models--acme--tiny-esrgan', 'snapshots', commit));
    expect(await fs.readFile(path.join(cacheDir, 'models--acme--tiny-esrgan', 'refs', 'main'), 'utf8')).toBe(commit);
    for (const f of files) {
      expect(sha256Hex(await fs.readFile(path.join(snapshot, ...f.path.split('/'))))).toBe(sha256Hex(f.bytes));
      expect((await fs.lstat(path.join(snapshot, ...f.path.split('/')))).isSymbolicLink()).toBe(true);
    }

    // ---- HEAD as huggingface_hub's get_hf_file_metadata reads it; no Xet headers
    const shard = files[1];
    const head = await d.api.request('HEAD', `/hf/${REPO}/resolve/main/${shard.path}`);
    expect(head.status).toBe(200);
    expect(head.headers['x-repo-commit']).toBe(commit);
    expect(head.headers.etag).toBe(`"${sha256Hex(shard.bytes)}"`);
    expect(head.headers['x-linked-etag']).toBe(`"${sha256Hex(shard.bytes)}"`);
    expect(head.headers['x-linked-size']).toBe(String(shard.bytes.length));
    expect(head.headers['content-length']).toBe(String(shard.bytes.length));
    expect(Object.keys(head.headers).filter((k) => k.startsWith('x-xet'))).toEqual([]);
    expect(head.text).toBe('');

    // ---- the CID and the commit select the release exactly; ranges
    for (const rev of [model.cid, commit]) {
      const res = await d.api.request('GET', `/hf/${REPO}/resolve/${rev}/config.json`);
      expect(res.status).toBe(200);
      expect(res.text).toBe(files[0].bytes.toString('utf8'));
    }
    const ranges: Array<[string, number, number]> = [['bytes=0-0', 0, 0], ['bytes=10-99', 10, 99], ['bytes=-7', shard.bytes.length - 7, shard.bytes.length - 1],
      [`bytes=${shard.bytes.length - 3}-`, shard.bytes.length - 3, shard.bytes.length - 1], ['bytes=5-999999999', 5, shard.bytes.length - 1]];
    for (const [range, start, end] of ranges) {
      const res = await d.api.request('GET', `/hf/${REPO}/resolve/main/${shard.path}`, { headers: { range } });
      expect(res.status, range).toBe(206);
      expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${shard.bytes.length}`);
      expect(res.headers['content-length']).toBe(String(end - start + 1));
    }
    const raw = await rawGet(d.ready.api, d.token, `/hf/${REPO}/resolve/main/${shard.path}`, 'bytes=100-199');
    expect(raw.equals(shard.bytes.subarray(100, 200))).toBe(true);

    // ---- hostile: bad ranges -> 416 with the size
    for (const range of ['bytes=5-2', `bytes=${shard.bytes.length}-`, 'bytes=abc', 'bytes=-0', 'items=0-1', 'bytes=99999999999999999-']) {
      const res = await d.api.request('GET', `/hf/${REPO}/resolve/main/${shard.path}`, { headers: { range } });
      expect(res.status, range).toBe(416);
      expect(res.headers['content-range']).toBe(`bytes */${shard.bytes.length}`);
    }

    // ---- hostile: unknown repo / revision / entry, traversal in {path}
    await expectHfError(d.api, 'GET', '/hf/api/models/acme/nope', 404, 'RepoNotFound');
    await expectHfError(d.api, 'GET', '/hf/acme/nope/resolve/main/config.json', 404, 'RepoNotFound');
    await expectHfError(d.api, 'HEAD', '/hf/acme/nope/resolve/main/config.json', 404, 'RepoNotFound');
    await expectHfError(d.api, 'GET', `/hf/api/models/${REPO}/revision/${'0'.repeat(40)}`, 404, 'RevisionNotFound');
    await expectHfError(d.api, 'GET', `/hf/${REPO}/resolve/v1.0/config.json`, 404, 'RevisionNotFound');
    await expectHfError(d.api, 'GET', `/hf/${REPO}/resolve/main/nope.bin`, 404, 'EntryNotFound');
    for (const evil of ['../../../../etc/passwd', 'tokenizer/../config.json', '%2e%2e/%2e%2e/etc/passwd', '..%2F..%2Fetc%2Fpasswd',
      `..%2F..%2F..%2F${encodeURIComponent(src.slice(1))}%2Fconfig.json`, '.p2pweights/release', '/etc/passwd']) {
      // Sent byte for byte over a socket: an HTTP client library would resolve the dots itself.
      const res = await rawRequest(d.ready.api, d.token, `GET /hf/${REPO}/resolve/main/${evil} HTTP/1.1`);
      expect(res.status, evil).toBe(404);
      expect(res.headers['x-error-code'], evil).toBe('EntryNotFound');
      expect(res.body).not.toContain('root:');
      expect(res.body).not.toContain('model_type');
    }
    await expectHfError(d.api, 'GET', `/hf/${REPO}/resolve/main/%zz`, 400, undefined);
    await expectHfError(d.api, 'GET', `/hf/api/models/${REPO}/tree/main/nope`, 404, 'EntryNotFound');

    // ---- tree pagination with a Hub-style Link header
    const seen: string[] = [];
    let next: string | undefined = `/hf/api/models/${REPO}/tree/main?recursive=true&limit=2`;
    for (let page = 0; next != null && page < 10; page++) {
      const res = await d.api.get(next);
      expect(res.status).toBe(200);
      expect(res.body.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.map((e: any) => e.path));
      const link = res.headers.link as string | undefined;
      // Absolute, on this daemon: @huggingface/hub follows only <https?://…>; rel="next".
      if (link != null) expect(link.startsWith(`<${d.ready.api}/hf/api/models/${REPO}/tree/main?`)).toBe(true);
      next = link == null ? undefined : new URL(/<([^>]+)>; rel="next"/.exec(link)![1]).pathname + new URL(/<([^>]+)>/.exec(link)![1]).search;
    }
    expect(next).toBeUndefined();
    expect(seen.sort()).toEqual(listed.map((e) => e.path).sort());
    const top = await d.api.ok(`/hf/api/models/${REPO}/tree/main`);
    expect(top.map((e: any) => e.path)).toEqual(['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'tokenizer']);

    // ---- paths-info as JSON (@huggingface/hub) and as a form (huggingface_hub)
    const asJson = await d.api.post(`/hf/api/models/${REPO}/paths-info/main`, { paths: ['config.json', 'tokenizer', 'nope'], expand: true });
    expect(asJson.status, asJson.text).toBe(200);
    expect(asJson.body.map((e: any) => `${e.type}:${e.path}`)).toEqual(['file:config.json', 'directory:tokenizer']);
    expect(asJson.body[0]).toMatchObject({ size: files[0].bytes.length, lfs: { oid: sha256Hex(files[0].bytes) }, lastCommit: { id: commit } });
    const asForm = await d.api.request('POST', `/hf/api/models/${REPO}/paths-info/${commit}`, {
      raw: 'paths=model.safetensors.index.json&paths=..%2F..%2Fetc%2Fpasswd&expand=True', contentType: 'application/x-www-form-urlencoded' });
    expect(asForm.status, asForm.text).toBe(200);
    expect(asForm.body.map((e: any) => e.path)).toEqual(['model.safetensors.index.json']);
    // The rest of the API still takes JSON only.
    const formSeed = await d.api.request('POST', '/api/v1/seeds', { raw: `folder=${encodeURIComponent(src)}`, contentType: 'application/x-www-form-urlencoded' });
    expect(formSeed.status).toBe(415);

    // ---- hostile: a file swapped on disk after it was verified (same size, mtime set back as
    // near as utimes can, another inode: a link or a rename put in its place) is refused
    const cfg = path.join(src, 'config.json');
    const st = await fs.stat(cfg);
    const swapped = Buffer.alloc(files[0].bytes.length, 0x41);
    await fs.writeFile(`${cfg}.new`, swapped);
    await fs.utimes(`${cfg}.new`, st.atime, st.mtime);
    await fs.rename(`${cfg}.new`, cfg);
    const afterSwap = await d.api.request('GET', `/hf/${REPO}/resolve/main/config.json`);
    expect(afterSwap.status).toBe(503);
    expect(afterSwap.text).not.toContain('AAAA');

    // ---- the daemon is still healthy after all that
    expect(await d.api.ok('/healthz')).toEqual({ ok: true });
  });

  it('needs the API token where the API does, as HF_TOKEN (also hf_<token>)', { timeout: 60_000 }, async () => {
    const files = hfModelFiles(50_000);
    const src = await h.tempDir('hf-src');
    await writeHfFolder(src, files);
    const d = await startDaemon(h, 'daemon', await h.tempDir('hf-data'), { api: '0.0.0.0:0' });
    expect(d.token.length).toBeGreaterThanOrEqual(32);
    await d.api.seed(src, REPO);
    const hubUrl = `${d.ready.api}/hf`;
    const noToken = await d.api.request('GET', `/hf/${REPO}/resolve/main/config.json`, { token: null });
    expect(noToken.status).toBe(401);
    expect(noToken.text).not.toContain('model_type');
    await expect(downloadFile({ repo: REPO, path: 'config.json', hubUrl })).rejects.toMatchObject({ statusCode: 401 });
    const blob = await downloadFile({ repo: REPO, path: 'config.json', hubUrl, accessToken: `hf_${d.token}` });
    expect(sha256Hex(new Uint8Array(await blob!.arrayBuffer()))).toBe(sha256Hex(files[0].bytes));
    const plain = await d.api.request('GET', `/hf/${REPO}/resolve/main/config.json`); // Bearer <token>
    expect(plain.status).toBe(200);
  });

  it('never serves a file of a fetch that is still in progress', { timeout: 90_000 }, async () => {
    const files = hfModelFiles(1_500_000);
    const src = await h.tempDir('hf-src');
    await writeHfFolder(src, files);
    const a = await startDaemon(h, 'seeder', await h.tempDir('hf-data-a'));
    const seeded = await a.api.seed(src, REPO);
    // B fetches slowly (0.2 MB/s for ~3 MB), so the fetch is in progress for a while.
    const b = await startDaemon(h, 'fetcher', await h.tempDir('hf-data-b'), { extra: ['--max-download-rate', '0.2'] });
    await b.api.fetch(seeded.cid, { peers: [a.addr] });
    await b.api.waitForModel(seeded.cid, (m) => m.state === 'fetching' && m.verifiedBytes > 0, 30_000);
    // config.json is the first file and small: it may already be complete on disk, but the
    // release is not, so nothing of it is served.
    for (const p of ['config.json', 'model-00001-of-00002.safetensors']) {
      await expectHfError(b.api, 'GET', `/hf/${REPO}/resolve/main/${p}`, 404, 'RepoNotFound');
      await expectHfError(b.api, 'GET', `/hf/${REPO}/resolve/${seeded.cid}/${p}`, 404, 'RepoNotFound');
    }
    await expectHfError(b.api, 'GET', `/hf/api/models/${REPO}`, 404, 'RepoNotFound');
    const m = await b.api.model(seeded.cid);
    expect(m?.state).toBe('fetching'); // still in progress when we asked
    // Once complete and verified, the same requests are answered, with the seeder's bytes.
    await b.api.waitForModel(seeded.cid, (x) => x.state === 'seeding', 60_000);
    const res = await rawGet(b.ready.api, b.token, `/hf/${REPO}/resolve/main/model-00001-of-00002.safetensors`, 'bytes=0-');
    expect(sha256Hex(res)).toBe(sha256Hex(files[1].bytes));
  });
});

/** Sends one request line as is over TCP (no URL normalisation) and parses the answer. */
async function rawRequest(base: string, token: string, requestLine: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const net = await import('node:net');
  const { hostname, port } = new URL(base);
  return await new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const parts: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
    socket.on('connect', () => socket.write(`${requestLine}\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (b) => parts.push(b));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      const [head, ...rest] = text.split('\r\n\r\n');
      const lines = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      resolve({ status: Number(lines[0].split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
  });
}

/** GET with node:http, returning the raw body bytes. */
async function rawGet(base: string, token: string, url: string, range: string): Promise<Buffer> {
  const http = await import('node:http');
  return await new Promise((resolve, reject) => {
    const req = http.request(`${base}${url}`, { headers: { range, authorization: `Bearer ${token}` }, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve(Buffer.concat(parts)));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
