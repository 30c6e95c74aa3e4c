/**
 * Signed names end to end, with real processes on 127.0.0.1 in the closed test DHT: publish v1
 * and fetch it by name; publish v2 from a second data dir with the same key and fetch v2; replay
 * the captured v1 record into the DHT (a hostile node's put) after v2 was seen: refused; an
 * expired record and one signed by another key, served by a hostile peer: refused.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { CID } from 'multiformats/cid';
import { afterEach, describe, expect, it } from 'vitest';
import { nameKey, openNameRecord, signNameRecord } from '../../src/names/record.js';
import { NameServer } from '../../src/names/protocol.js';
import { createNode, type P2PNode } from '../../src/net/node.js';
import { readKeyFile } from '../../src/store/keys.js';
import { sleep, startDaemon } from './daemon-harness.js';
import {
  compareFolders, exists, Harness, localAddr, LOCAL_ONLY, makeModelFolder, TEST_DHT,
  type CliEvent, type DoneEvent, type FileSpec, type ReadyEvent,
} from './harness.js';

const NAME = 'acme/tiny';
const V1: FileSpec[] = [{ path: 'config.json', size: 700 }, { path: 'weights.bin', size: 200_000 }];
const V2: FileSpec[] = [{ path: 'config.json', size: 800 }, { path: 'weights.bin', size: 250_000 }];

interface Resolved extends CliEvent { cid: string; version: number; expires: string; publisher: string; name: string }
interface NamedReady extends ReadyEvent { name?: string; version?: number }
interface NamedDone extends DoneEvent { name: string; version: number }

/** An in-test libp2p node on the test DHT: the hostile peer of these tests. */
async function hostileNode(bootstrap: string[] = []): Promise<P2PNode> {
  const node = await createNode({
    privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], dhtProtocol: TEST_DHT, bootstrap, mdns: false,
  });
  await node.start();
  return node;
}

function addrOf(node: P2PNode): string {
  const addr = node.getMultiaddrs().map((a) => a.toString()).find((a) => a.startsWith('/ip4/127.0.0.1/tcp/'));
  if (addr == null) throw new Error('hostile node has no loopback address');
  return addr;
}

describe('signed names', () => {
  const h = new Harness();
  const nodes: P2PNode[] = [];
  afterEach(async () => {
    await Promise.allSettled(nodes.splice(0).map(async (n) => n.stop()));
    await h.cleanup();
  }, 30_000);

  /** A plain seeder that every other process bootstraps through: the test DHT's server. */
  async function dhtNode(): Promise<string> {
    const folder = await h.tempDir('dht-src');
    await makeModelFolder(folder, [{ path: 'x', size: 10 }], 'dht');
    const { ready } = await h.seed('dht', folder, { dataDir: await h.tempDir('dht-data') });
    return localAddr(ready);
  }

  async function resolve(label: string, ref: string, dataDir: string, extra: string[] = []): Promise<{ code: number | null; resolved?: Resolved; stderr: string }> {
    const proc = await h.run(label, ['resolve', ref, '--data-dir', dataDir, '--json', ...LOCAL_ONLY, '--find-timeout', '5', ...extra], 30_000);
    return { code: proc.exitInfo?.code ?? null, resolved: proc.all<Resolved>('resolved')[0], stderr: proc.stderr };
  }

  async function fetchByName(label: string, ref: string, out: string, dataDir: string, bootstrap: string): Promise<NamedDone> {
    const proc = await h.run(label, ['fetch', ref, '-o', out, '--data-dir', dataDir, '--json', ...LOCAL_ONLY, '--bootstrap', bootstrap], 90_000);
    expect(proc.exitInfo?.code, proc.tail()).toBe(0);
    return proc.all<NamedDone>('done')[0];
  }

  it('publish v1 and fetch by name; v2 from another data dir with the same key wins; a replayed v1 is refused', { timeout: 240_000 }, async () => {
    const dht = await dhtNode();
    const key = path.join(await h.tempDir('key'), 'publisher.key');
    await h.keygen(key);
    const v1 = await h.tempDir('v1');
    await makeModelFolder(v1, V1, 'v1');
    const v2 = await h.tempDir('v2');
    await makeModelFolder(v2, V2, 'v2');

    const pub1 = await h.seed('publisher-1', v1, { dataDir: await h.tempDir('pub1'), key, name: NAME, bootstrap: [dht] });
    const ready1 = pub1.ready as NamedReady;
    expect(ready1.name).toBe(NAME);
    expect(ready1.version).toBe(1);
    const ref = `${ready1.publisher}/${NAME}`;

    // A fresh client resolves it through the DHT alone (no --peer).
    const client = await h.tempDir('client');
    const first = await resolve('resolve-v1', ref, client, ['--bootstrap', dht]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.resolved).toMatchObject({ cid: ready1.cid, version: 1, publisher: ready1.publisher, name: NAME });
    expect(Date.parse(first.resolved!.expires)).toBeGreaterThan(Date.now());
    const seenDir = path.join(client, 'names', 'seen');
    const [seenFile] = await fs.readdir(seenDir);
    const capturedV1 = await fs.readFile(path.join(seenDir, seenFile));

    const out1 = path.join(await h.tempDir('out1'), 'model');
    const done1 = await fetchByName('fetch-v1', ref, out1, client, dht);
    expect(done1.cid).toBe(ready1.cid);
    expect(done1.version).toBe(1);
    await compareFolders(v1, out1);

    // The same key on a second machine (data dir) continues from the version it finds.
    const pub2 = await h.seed('publisher-2', v2, { dataDir: await h.tempDir('pub2'), key, name: NAME, bootstrap: [dht] });
    const ready2 = pub2.ready as NamedReady;
    expect(ready2.publisher).toBe(ready1.publisher);
    expect(ready2.version).toBe(2);
    expect(ready2.cid).not.toBe(ready1.cid);

    const out2 = path.join(await h.tempDir('out2'), 'model');
    const done2 = await fetchByName('fetch-v2', ref, out2, client, dht);
    expect(done2.cid).toBe(ready2.cid);
    expect(done2.version).toBe(2);
    await compareFolders(v2, out2);

    // Both publishers go away; a hostile node puts the captured v1 record back into the DHT.
    pub1.proc.signal('SIGKILL');
    pub2.proc.signal('SIGKILL');
    await Promise.all([pub1.proc.waitForExit(10_000), pub2.proc.waitForExit(10_000)]);
    const hostile = await hostileNode([dht]);
    nodes.push(hostile);
    const v1Record = await openNameRecord(capturedV1);
    expect(v1Record.version).toBe(1);
    const dhtKey = await nameKey((await readKeyFile(key)).publicKey.raw, NAME);
    let stored = 0;
    for (let attempt = 0; attempt < 10 && stored === 0; attempt++) {
      for await (const event of hostile.services.dht.put(dhtKey, capturedV1, { signal: AbortSignal.timeout(10_000) })) {
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') stored++;
      }
      if (stored === 0) await new Promise((r) => setTimeout(r, 500));
    }
    expect(stored).toBeGreaterThan(0);

    // A client that never saw v2 now gets v1 (so the replay did reach the DHT) ...
    const fresh = await resolve('resolve-fresh', ref, await h.tempDir('fresh'), ['--bootstrap', dht]);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.resolved?.version).toBe(1);
    // ... and the client that saw v2 refuses it, naming both versions.
    const replay = await resolve('resolve-replay', ref, client, ['--bootstrap', dht]);
    expect(replay.code).toBe(1);
    expect(replay.stderr).toMatch(/^error: refusing .* version 1 .*already seen version 2/m);
    const refetch = await h.run('fetch-replay', ['fetch', ref, '-o', path.join(await h.tempDir('out3'), 'm'), '--data-dir', client, '--json', ...LOCAL_ONLY, '--bootstrap', dht], 60_000);
    expect(refetch.exitInfo?.code).toBe(1);
    expect(refetch.stderr).toMatch(/rollback/);
  });

  it('an expired record and a record signed by another key are refused; --allow-expired takes the expired one', { timeout: 120_000 }, async () => {
    const key = path.join(await h.tempDir('key'), 'publisher.key');
    const publisher = await h.keygen(key);
    const owner = await readKeyFile(key);
    const forger = await generateKeyPair('Ed25519');
    const cid = CID.parse('bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy');
    const expired = await signNameRecord(owner, { name: NAME, version: 5, cid, issued: Date.now() - 3 * 3600_000, validity: 3600_000 });
    // The forger claims the owner's name: root key = the owner's, signed by its own key.
    const forged = await signNameRecord(forger, { name: NAME, version: 9, cid, publisher: forger.publicKey.raw })
      .then(async (r) => {
        const dagCbor = await import('@ipld/dag-cbor');
        const map = dagCbor.decode(r.bytes) as Record<string, unknown>;
        return dagCbor.encode({ ...map, publisher: owner.publicKey.raw });
      });

    const serve = async (bytes: Uint8Array): Promise<string> => {
      const node = await hostileNode();
      nodes.push(node);
      await new NameServer(node, { get: async () => bytes, push: async () => {} }).start();
      return addrOf(node);
    };
    const ref = `${publisher.publisher}/${NAME}`;

    const expiredPeer = await serve(expired.bytes);
    const refused = await resolve('resolve-expired', ref, await h.tempDir('c1'), ['--peer', expiredPeer]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: .*expired/m);
    const allowed = await resolve('resolve-allow-expired', ref, await h.tempDir('c2'), ['--peer', expiredPeer, '--allow-expired']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.resolved).toMatchObject({ version: 5, cid: cid.toString(), publisher: publisher.publisher });
    expect(allowed.stderr).toMatch(/^warning: .*expired/m);

    // An alias from the trust store stands for the publisher id; removed, it no longer resolves.
    const client = await h.tempDir('c-alias');
    const added = await h.run('trust-add', ['trust', 'add', publisher.publisher, '--as', 'acme', '--data-dir', client], 20_000);
    expect(added.exitInfo?.code, added.tail()).toBe(0);
    const listed = await h.run('trust-ls', ['trust', 'ls', '--json', '--data-dir', client], 20_000);
    expect(listed.all('trust')[0]).toMatchObject({ publishers: [{ publisher: publisher.publisher, alias: 'acme' }] });
    const byAlias = await resolve('resolve-alias', `acme/${NAME}`, client, ['--peer', expiredPeer, '--allow-expired']);
    expect(byAlias.code, byAlias.stderr).toBe(0);
    expect(byAlias.resolved).toMatchObject({ version: 5, publisher: publisher.publisher });
    expect((await h.run('trust-rm', ['trust', 'rm', 'acme', '--data-dir', client], 20_000)).exitInfo?.code).toBe(0);
    const gone = await resolve('resolve-alias-gone', `acme/${NAME}`, client, ['--peer', expiredPeer, '--allow-expired']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^error: .*trust add/m);

    const forgedPeer = await serve(forged);
    const forgedResult = await resolve('resolve-forged', ref, await h.tempDir('c3'), ['--peer', forgedPeer]);
    expect(forgedResult.code).toBe(1);
    expect(forgedResult.stderr).toMatch(/^error: .*not signed by its publisher/m);
    const fetchForged = await h.run('fetch-forged', ['fetch', ref, '-o', path.join(await h.tempDir('o'), 'm'), '--data-dir', await h.tempDir('c4'), '--json', ...LOCAL_ONLY, '--peer', forgedPeer, '--find-timeout', '5'], 60_000);
    expect(fetchForged.exitInfo?.code).toBe(1);
    expect(fetchForged.stderr).toMatch(/not signed by its publisher/);
  });

  it('a followed name picks up v2 by itself, seeds it, and keeps only the newest', { timeout: 240_000 }, async () => {
    const dht = await dhtNode();
    const key = path.join(await h.tempDir('key'), 'publisher.key');
    await h.keygen(key);
    const v1 = await h.tempDir('v1');
    await makeModelFolder(v1, V1, 'follow-v1');
    const v2 = await h.tempDir('v2');
    await makeModelFolder(v2, V2, 'follow-v2');
    const pub1 = await h.seed('publisher-1', v1, { dataDir: await h.tempDir('pub1'), key, name: NAME, bootstrap: [dht] });
    const ref = `${pub1.ready.publisher}/${NAME}`;

    const daemonDir = await h.tempDir('daemon');
    const daemon = await startDaemon(h, 'daemon', daemonDir, { bootstrap: [dht], extra: ['--follow-interval', '2'] });
    const follow = await h.run('follow', ['follow', ref, '--keep', '1', '--data-dir', daemonDir, '--json'], 30_000);
    expect(follow.exitInfo?.code, follow.tail()).toBe(0);
    expect(follow.all('following')[0]).toMatchObject({ ref, keep: 1 });

    const context = (): string => daemon.proc.tail();
    const m1 = await daemon.api.waitForModel(pub1.ready.cid, (m) => m.state === 'seeding', 60_000, { everyMs: 500, context });
    await compareFolders(v1, m1.path);

    // A new version, from another machine with the same key: nobody tells the daemon.
    const pub2 = await h.seed('publisher-2', v2, { dataDir: await h.tempDir('pub2'), key, name: NAME, bootstrap: [dht] });
    expect((pub2.ready as NamedReady).version).toBe(2);
    const m2 = await daemon.api.waitForModel(pub2.ready.cid, (m) => m.state === 'seeding', 90_000, { everyMs: 500, context });
    await compareFolders(v2, m2.path);

    // keep 1: version 1 is no longer served and its folder (the daemon's own) is gone.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && ((await daemon.api.model(pub1.ready.cid)) != null || await exists(m1.path))) await sleep(250);
    expect(await daemon.api.model(pub1.ready.cid)).toBeUndefined();
    expect(await exists(m1.path)).toBe(false);
    const follows = await daemon.api.ok<Array<{ ref: string; version: number; versions: Array<{ version: number; cid: string }> }>>('/api/v1/follows');
    expect(follows).toHaveLength(1);
    expect(follows[0]).toMatchObject({ ref, version: 2, versions: [{ version: 2, cid: pub2.ready.cid }] });

    const unfollow = await h.run('unfollow', ['unfollow', ref, '--data-dir', daemonDir], 30_000);
    expect(unfollow.exitInfo?.code, unfollow.tail()).toBe(0);
    expect(await daemon.api.ok('/api/v1/follows')).toEqual([]);
    expect((await daemon.api.model(pub2.ready.cid))?.state).toBe('seeding');

    // The fetch API takes a name too: it resolves to the newest release (held already here).
    expect((await daemon.api.fetch(ref)).cid).toBe(pub2.ready.cid);
    const unknown = await daemon.api.post('/api/v1/fetches', { cid: 'nobody/acme/tiny' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/trust add/);
  });

  it('withdraw stops fetching by name; after rotate-key the new key publishes under the old publisher id', { timeout: 240_000 }, async () => {
    const dht = await dhtNode();
    const keyDir = await h.tempDir('key');
    const key = path.join(keyDir, 'publisher.key');
    const publisher = await h.keygen(key);
    const v1 = await h.tempDir('v1');
    await makeModelFolder(v1, V1, 'wd-v1');
    const pubDir = await h.tempDir('pub');
    const pub1 = await h.seed('publisher-1', v1, { dataDir: pubDir, key, name: NAME, bootstrap: [dht] });
    const ref = `${publisher.publisher}/${NAME}`;
    const client = await h.tempDir('client');
    expect((await resolve('resolve-v1', ref, client, ['--bootstrap', dht])).resolved?.version).toBe(1);
    pub1.proc.signal('SIGINT');
    await pub1.proc.waitForExit(15_000);

    const withdrawn = await h.run('withdraw', ['withdraw', NAME, pub1.ready.cid, '--key', key, '--data-dir', pubDir, '--json', ...LOCAL_ONLY, '--bootstrap', dht], 60_000);
    expect(withdrawn.exitInfo?.code, withdrawn.tail()).toBe(0);
    expect(withdrawn.all('withdrawn')[0]).toMatchObject({ version: 2, cid: null, withdrawn: pub1.ready.cid });
    const refused = await resolve('resolve-withdrawn', ref, client, ['--bootstrap', dht]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: .*withdrew .*not fetching it by name/m);

    // Rotate to a new key; seeding with it continues the name (version 3) under the old id.
    const newKey = path.join(keyDir, 'new.key');
    const next = await h.keygen(newKey);
    const rotated = await h.run('rotate', ['rotate-key', '--to', newKey, '--key', key, '--data-dir', pubDir, '--json'], 20_000);
    expect(rotated.exitInfo?.code, rotated.tail()).toBe(0);
    expect(rotated.all('rotated')[0]).toMatchObject({ publisher: publisher.publisher, key: next.publisher, rotations: 1 });
    const v2 = await h.tempDir('v2');
    await makeModelFolder(v2, V2, 'wd-v2');
    const pub2 = await h.seed('publisher-2', v2, { dataDir: pubDir, key: newKey, name: NAME, bootstrap: [dht] });
    expect(pub2.ready.publisher).toBe(next.publisher); // the release is signed by the new key
    expect((pub2.ready as NamedReady).version).toBe(3);
    const out = path.join(await h.tempDir('out'), 'model');
    const done = await fetchByName('fetch-rotated', ref, out, client, dht);
    expect(done).toMatchObject({ cid: pub2.ready.cid, version: 3, publisher: next.publisher });
    await compareFolders(v2, out);
  });
});
