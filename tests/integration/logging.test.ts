/**
 * The namespaced logger: a failure that the code deliberately goes past is said under
 * DEBUG=p2pweights:* (on stderr, with the layer's namespace) and stays silent without it.
 * The case used: a symlink planted where a lock file goes is a stale lock, removed and taken over.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, NODE } from './harness.js';

const LOCK_MODULE = pathToFileURL(path.join(path.dirname(CLI), '..', 'store', 'lock-file.js')).href;

function takePlantedLock (debug: string | undefined): { status: number | null, stderr: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'p2pw-log-'));
  dirs.push(dir);
  const lock = path.join(dir, 'lock');
  symlinkSync('/nonexistent-target', lock);
  const script = `const m = await import(${JSON.stringify(LOCK_MODULE)}); await m.acquireLock(${JSON.stringify(lock)}); await m.releaseLock(${JSON.stringify(lock)})`;
  const env = { ...process.env };
  delete env.DEBUG;
  if (debug != null) env.DEBUG = debug;
  const run = spawnSync(NODE, ['--input-type=module', '-e', script], { env, encoding: 'utf8', timeout: 20_000 });
  return { status: run.status, stderr: run.stderr };
}

const dirs: string[] = [];

describe('logging', () => {
  afterAll(() => { for (const dir of dirs) rmSync(dir, { recursive: true, force: true }); });

  it('DEBUG=p2pweights:* says what was ignored and why, under the layer\'s namespace', () => {
    const run = takePlantedLock('p2pweights:*');
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/p2pweights:store:lock-file cannot read the owner of lock \S+ \(ELOOP\); reporting no owner/);
  });

  it('is silent without DEBUG', () => {
    const run = takePlantedLock(undefined);
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
  });
});
