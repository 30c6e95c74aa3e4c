/**
 * Cancelling a daemon's seed while it hashes, on a real `p2pweights daemon`: `p2pweights rm
 * <folder>`, or the HTTP client of POST /api/v1/seeds going away. Either way the hashing stops
 * (the next seed, queued behind it, is answered at once rather than after minutes of hashing),
 * nothing of the cancelled folder is saved or served, and the daemon keeps working.
 */
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from './harness.js';
import { readEvents, startDaemon, type RunningDaemon } from './daemon-harness.js';

/** 256 GiB, sparse: many minutes of hashing on any machine, no disk used. */
const HUGE = 256 * 2 ** 30;

async function hugeFolder(h: Harness): Promise<string> {
  const dir = await h.tempDir('huge');
  const handle = await fs.open(path.join(dir, 'huge.bin'), 'w');
  await handle.truncate(HUGE);
  await handle.close();
  return dir;
}

async function smallFolder(h: Harness): Promise<string> {
  const dir = await h.tempDir('small');
  await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify({ small: true }));
  return dir;
}

/** POST /api/v1/seeds of `folder` without waiting; the request object lets a test drop it. */
function postSeed(d: RunningDaemon, folder: string): { req: http.ClientRequest; answer: Promise<{ status: number; body: any }> } {
  const body = JSON.stringify({ folder });
  let req!: http.ClientRequest;
  const answer = new Promise<{ status: number; body: any }>((resolve, reject) => {
    req = http.request(`${d.ready.api}/api/v1/seeds`, {
      method: 'POST',
      agent: false,
      headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => { text += s; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
  return { req, answer };
}

/** Starts seeding `folder` and resolves once the daemon reports it hashing bytes of it. */
async function seedUntilHashing(d: RunningDaemon, folder: string): Promise<ReturnType<typeof postSeed>> {
  let post: ReturnType<typeof postSeed> | undefined;
  await readEvents(d.api, (m) => m.type === 'hashing' && m.data.folder === folder && m.data.bytes > 0, 30_000, () => { post = postSeed(d, folder); });
  return post!;
}

async function releasesSaved(d: RunningDaemon): Promise<string[]> {
  return fs.readdir(path.join(d.dataDir, 'releases')).catch(() => []);
}

describe('daemon: cancelling a seed while it hashes', () => {
  const h = new Harness();
  afterEach(() => h.cleanup(), 30_000);

  it('`p2pweights rm <folder>` stops the hashing; nothing is served; the next seed runs at once', { timeout: 90_000 }, async () => {
    const d = await startDaemon(h, 'daemon', await h.tempDir('data'));
    const huge = await hugeFolder(h);
    const post = await seedUntilHashing(d, huge);

    const rm = await h.run('rm', ['rm', huge, '--data-dir', d.dataDir, '--json'], 20_000);
    expect(rm.exitInfo?.code, rm.tail()).toBe(0);
    expect(rm.events.find((e) => e.event === 'cancelled')).toMatchObject({ folder: huge });

    // The seed's own request is answered: 409, with a sentence, not a hang until hashing ends.
    const answer = await post.answer;
    expect(answer.status).toBe(409);
    expect(answer.body.error).toMatch(/removed while hashing/);
    expect(await d.api.models()).toEqual([]);
    expect(await releasesSaved(d)).toEqual([]);

    // The queue is free: a small seed is answered now, not after the 256 GiB hash.
    const small = await d.api.seed(await smallFolder(h));
    expect(small.state).toBe('seeding');
    expect((await d.api.models()).map((m) => m.cid)).toEqual([small.cid]);

    // Nothing to cancel any more: a clear 404, and the CLI says so with a non-zero exit.
    const again = await h.run('rm-again', ['rm', huge, '--data-dir', d.dataDir], 20_000);
    expect(again.exitInfo?.code).toBe(1);
    expect(again.tail()).toMatch(/no seed of .* is waiting or hashing/);
  });

  it('a POST /api/v1/seeds whose client goes away stops hashing; the daemon keeps serving', { timeout: 90_000 }, async () => {
    const d = await startDaemon(h, 'daemon', await h.tempDir('data'));
    const huge = await hugeFolder(h);
    const post = await seedUntilHashing(d, huge);
    post.answer.catch(() => {}); // the socket we destroy rejects it
    post.req.destroy();

    const small = await d.api.seed(await smallFolder(h));
    expect(small.state).toBe('seeding');
    expect((await d.api.models()).map((m) => m.cid)).toEqual([small.cid]);
    expect(await releasesSaved(d)).toEqual([small.cid]);
    expect(d.proc.exitInfo).toBeUndefined(); // still running
  });
});
