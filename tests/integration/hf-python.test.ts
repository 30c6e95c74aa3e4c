/**
 * The daemon's HF endpoint read by Python's huggingface_hub (model_info, list_repo_tree,
 * hf_hub_download, snapshot_download, `hf download --include`, its error classes):
 * hf-python/check.py against a real daemon. huggingface_hub is not an npm package, so this runs only where a Python with it is
 * named in P2PW_HF_PYTHON (e.g. a venv: python3 -m venv v && v/bin/pip install huggingface_hub;
 * P2PW_HF_PYTHON=v/bin/python); elsewhere it is skipped and says so.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CID } from 'multiformats/cid';
import { afterEach, describe, expect, it } from 'vitest';
import { Harness, LOCAL_ONLY } from './harness.js';
import { startDaemon } from './daemon-harness.js';
import { hfModelFiles, sha256Hex, writeHfFolder } from './hf-folder.js';

const PYTHON = process.env.P2PW_HF_PYTHON;
const SCRIPT = fileURLToPath(new URL('./hf-python/check.py', import.meta.url));
const usable = PYTHON != null && spawnSync(PYTHON, ['-c', 'import huggingface_hub'], { timeout: 30_000 }).status === 0;
if (!usable) console.warn('hf-python.test.ts skipped: set P2PW_HF_PYTHON to a Python that has huggingface_hub');

describe('Hugging Face endpoint with Python huggingface_hub', () => {
  const h = new Harness();
  afterEach(() => h.cleanup(), 30_000);

  // Skipped unless P2PW_HF_PYTHON names a Python with huggingface_hub: PyPI is out of reach here
  // (docs/hf.md says how it was run); @huggingface/hub covers the endpoint in hf-endpoint.test.ts.
  it.skipIf(!usable)('model_info, list_repo_tree, hf_hub_download and snapshot_download read a seeded release; a --hf-cache fetch loads offline', { timeout: 120_000 }, async () => {
    const files = hfModelFiles(400_000);
    const src = await h.tempDir('hf-src');
    await writeHfFolder(src, files);
    const d = await startDaemon(h, 'daemon', await h.tempDir('hf-data'));
    const model = await d.api.seed(src, 'acme/tiny-esrgan');
    const work = await h.tempDir('hf-py');
    const expected = path.join(work, 'expected.json');
    await fs.writeFile(expected, JSON.stringify(Object.fromEntries(files.map((f) => [f.path, sha256Hex(f.bytes)]))));
    const cache = path.join(work, 'cache');
    const env: NodeJS.ProcessEnv = { ...process.env, HF_ENDPOINT: `${d.ready.api}/hf`, HF_HUB_CACHE: cache, HF_HUB_DISABLE_TELEMETRY: '1' };
    delete env.HF_TOKEN;
    const run = spawnSync(PYTHON!, [SCRIPT, 'acme/tiny-esrgan', expected], { env, encoding: 'utf8', timeout: 90_000 });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    const commit = Buffer.from(CID.parse(model.cid).multihash.digest.subarray(0, 20)).toString('hex');
    expect(out.sha).toBe(commit);
    expect(out.snapshot).toBe(path.join(cache, 'models--acme--tiny-esrgan', 'snapshots', commit));
    for (const f of files) expect(sha256Hex(await fs.readFile(path.join(out.snapshot, f.path)))).toBe(sha256Hex(f.bytes));

    // `p2pweights fetch --hf-cache` writes a cache that huggingface_hub reads offline.
    const ownCache = path.join(work, 'own-cache');
    const fetch = await h.run('fetch', ['fetch', model.cid, '--hf-cache', ownCache, '--data-dir', await h.tempDir('hf-data-f'), '--json', ...LOCAL_ONLY, '--peer', d.addr], 60_000);
    expect(fetch.exitInfo?.code, fetch.tail()).toBe(0);
    const offline = spawnSync(PYTHON!, [SCRIPT, '--offline', 'acme/tiny-esrgan', expected], {
      env: { ...env, HF_HUB_CACHE: ownCache, HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9/unused' }, encoding: 'utf8', timeout: 60_000 });
    expect(offline.status, `${offline.stdout}\n${offline.stderr}`).toBe(0);
    expect(JSON.parse(offline.stdout.trim().split('\n').at(-1)!).snapshot).toBe(path.join(ownCache, 'models--acme--tiny-esrgan', 'snapshots', commit));

    const hfCli = await fs.stat(path.join(path.dirname(PYTHON!), 'hf')).then(() => true, () => false);
    if (hfCli) expect(out.hf_download).toEqual(files.filter((f) => f.path.endsWith('.safetensors')).map((f) => f.path).sort());
  });
});
