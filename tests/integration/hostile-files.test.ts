/**
 * A hostile process on the same machine, through files and folders, against the real CLI:
 * symlinks in a seeded folder that lead to the node's keys or out of the folder, a planted
 * symlinked .part and a forged `have` in a fetch's output folder, and a fetch into a folder
 * that holds another release. Bytes on disk are checked in every case.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  compareFolders, fmtExit, Harness, hashTree, localAddr, LOCAL_ONLY, makeModelFolder, MiB,
  type FileSpec, type ReadyEvent,
} from './harness.js';

// a.bin is file 0 (one 4 MiB chunk), b.bin file 1 (two chunks): three chunks, a one-byte bitfield.
const FILES: FileSpec[] = [
  { path: 'a.bin', size: 300_000 },
  { path: 'b.bin', size: 6 * MiB + 11 },
];

describe('hostile files and folders', () => {
  const h = new Harness();
  afterEach(() => h.cleanup(), 30_000);
  // The CLI prints the error's stack (whose first line names its class) with this set.
  beforeAll(() => { process.env.P2PWEIGHTS_DEBUG = '1'; });

  it('seed refuses a link to the data dir\'s key and a link out of the folder, naming both ends', { timeout: 60_000 }, async () => {
    const dataDir = await h.tempDir('data');
    const keygen = await h.run('keygen', ['keygen', '--data-dir', dataDir], 20_000);
    expect(keygen.exitInfo?.code, keygen.tail()).toBe(0);
    const key = path.join(dataDir, 'publisher.key');

    const src = await h.tempDir('src');
    await makeModelFolder(src, FILES, 'keys');
    await fs.symlink(key, path.join(src, 'tokenizer.model'));
    const toKey = await h.run('seed-key', ['seed', src, '--data-dir', dataDir, '--json', ...LOCAL_ONLY], 30_000);
    expect(fmtExit(toKey.exitInfo!), toKey.tail()).toBe('code 1');
    expect(toKey.all('ready')).toEqual([]);
    const [line] = toKey.errorLines();
    expect(line).toContain('tokenizer.model');
    expect(line).toContain(key);
    expect(toKey.stderr).toMatch(/^ForbiddenFolderError: /m);

    const elsewhere = await h.tempDir('elsewhere');
    await fs.writeFile(path.join(elsewhere, 'id_ed25519'), 'a private key outside the folder');
    await fs.rm(path.join(src, 'tokenizer.model'));
    await fs.symlink(path.join(elsewhere, 'id_ed25519'), path.join(src, 'tokenizer.model'));
    const out = await h.run('seed-out', ['seed', src, '--data-dir', dataDir, '--json', ...LOCAL_ONLY], 30_000);
    expect(fmtExit(out.exitInfo!), out.tail()).toBe('code 1');
    expect(out.all('ready')).toEqual([]);
    expect(out.errorLines()[0]).toContain('tokenizer.model');
    expect(out.errorLines()[0]).toContain(path.join(await fs.realpath(elsewhere), 'id_ed25519'));
    expect(out.errorLines()[0]).toContain('--allow-symlinks-into');
    expect(out.stderr).toMatch(/^SymlinkEscapeError: /m);

    // Named with --allow-symlinks-into, the link is followed, and a fetch gets its bytes.
    const allowed = h.start('seed-allowed', ['seed', src, '--data-dir', dataDir, '--json', '--allow-symlinks-into', elsewhere, ...LOCAL_ONLY]);
    const ready = await allowed.waitFor<ReadyEvent>('ready', 30_000);
    const dest = await h.tempDir('dest');
    const fetcher = h.fetch('fetch', ready.cid, { out: dest, dataDir: await h.tempDir('data-f'), peers: [localAddr(ready)] });
    expect(fmtExit(await fetcher.waitForExit(60_000)), fetcher.tail()).toBe('code 0');
    expect(await compareFolders(src, dest)).toEqual(['content differs: tokenizer.model']); // a link there, a file here
    expect(await fs.readFile(path.join(dest, 'tokenizer.model'), 'utf8')).toBe('a private key outside the folder');
  });

  it('a planted symlinked .part and a forged have neither write outside nor count as complete', { timeout: 90_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, FILES, 'planted');
    const seedData = await h.tempDir('data-s');
    const seeder = await h.seed('seeder', src, { dataDir: seedData });

    // The output folder as a hostile local user leaves it: our release (so it looks like a
    // resume), a .part that is a symlink to a victim file, garbage in the other .part, and a
    // bitfield claiming every chunk.
    const out = await h.tempDir('out');
    const state = path.join(out, '.p2pweights');
    await fs.mkdir(state);
    await fs.copyFile(path.join(seedData, 'releases', seeder.ready.cid), path.join(state, 'release'));
    const victim = path.join(await h.tempDir('victim'), 'victim.txt');
    const precious = Buffer.alloc(FILES[0].size, 'precious ');
    await fs.writeFile(victim, precious);
    await fs.symlink(victim, path.join(state, '0.part'));
    await fs.writeFile(path.join(state, '1.part'), Buffer.alloc(FILES[1].size, 0x5a));
    await fs.writeFile(path.join(state, 'have'), Uint8Array.of(0xff));

    const fetcher = h.fetch('fetch', seeder.ready.cid, { out, dataDir: await h.tempDir('data-f'), peers: [localAddr(seeder.ready)] });
    expect(fmtExit(await fetcher.waitForExit(60_000)), fetcher.tail()).toBe('code 0');
    // Every file is the seeder's, a regular file (no link), the state folder is gone...
    expect(await compareFolders(src, out)).toEqual([]);
    // ...and the victim was neither written nor truncated, nor renamed into the folder.
    expect(Buffer.compare(await fs.readFile(victim), precious)).toBe(0);
    expect((await fs.lstat(victim)).isFile()).toBe(true);
  });

  it('a fetch into a folder of another release is refused and leaves it as it was; --into-existing writes', { timeout: 90_000 }, async () => {
    const src = await h.tempDir('src');
    await makeModelFolder(src, FILES, 'other-release');
    const seeder = await h.seed('seeder', src, { dataDir: await h.tempDir('data-s') });

    const out = await h.tempDir('out');
    await makeModelFolder(out, [{ path: 'README.md', size: 500 }, { path: 'b.bin', size: 1000 }], 'v1');
    const before = await hashTree(out);
    const dataDir = await h.tempDir('data-f');
    const refused = h.fetch('fetch', seeder.ready.cid, { out, dataDir, peers: [localAddr(seeder.ready)] });
    expect(fmtExit(await refused.waitForExit(60_000)), refused.tail()).toBe('code 1');
    expect(refused.errorLines()[0]).toContain('--into-existing');
    expect(refused.stderr).toMatch(/^DownloadConflictError: /m);
    expect(await hashTree(out)).toEqual(before); // nothing written, no state folder left

    const told = h.fetch('fetch-into', seeder.ready.cid, { out, dataDir, peers: [localAddr(seeder.ready)], extra: ['--into-existing'] });
    expect(fmtExit(await told.waitForExit(60_000)), told.tail()).toBe('code 0');
    expect(await compareFolders(src, out)).toEqual(['unexpected: README.md']);
  });
});
