/**
 * The Docker image and docker-compose.yml, run for real: scripts/docker-test.sh builds the image
 * on a private Docker engine and checks the NAS service, its restarts and the demo profile (see
 * its header). Here it runs as part of `npm test`; it skips, saying why, where it cannot run
 * (not root, no engine) or when P2PW_SKIP_DOCKER=1 asks it to (the fast loop). Slow: minutes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../scripts/docker-test.sh', import.meta.url));
const PREBUILT = fileURLToPath(new URL('../../prebuilt', import.meta.url));
const SKIPPED = 77; // the script's exit status when it cannot run here
const LIMIT_MS = 25 * 60_000; // a first run includes apt-get and debootstrap

interface Run { code: number | null; signal: NodeJS.Signals | null; output: string }

/** Runs the script in its own process group; on timeout SIGTERM lets its trap clean up. */
function runScript(timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('bash', [SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    const take = (b: Buffer): void => { output += b.toString(); };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const kill = (sig: NodeJS.Signals): void => { try { process.kill(-child.pid!, sig); } catch { /* gone */ } };
    const term = setTimeout(() => { output += `\n(test: no result after ${timeoutMs / 1000} s, SIGTERM)\n`; kill('SIGTERM'); }, timeoutMs);
    const hard = setTimeout(() => kill('SIGKILL'), timeoutMs + 120_000);
    child.on('close', (code, signal) => { clearTimeout(term); clearTimeout(hard); resolve({ code, signal, output }); });
  });
}

describe('docker image and compose file on a private engine', () => {
  it('scripts/docker-test.sh: NAS service, restarts, demo profile; everything removed after', { timeout: LIMIT_MS + 180_000 }, async (ctx) => {
    // Skipped only on request (P2PW_SKIP_DOCKER=1), or below when the script cannot run a
    // private engine here (not root, no dockerd): its SKIP: line is the reason shown.
    if (process.env.P2PW_SKIP_DOCKER === '1') ctx.skip('P2PW_SKIP_DOCKER=1');
    const hadPrebuilt = existsSync(PREBUILT);
    const started = Date.now();
    const run = await runScript(LIMIT_MS);
    const lines = run.output.trimEnd().split('\n');
    if (run.code === SKIPPED) {
      const reason = lines.filter((l) => l.includes('SKIP:')).at(-1) ?? lines.at(-1) ?? '';
      console.log(reason);
      ctx.skip(reason.replace(/^.*SKIP:\s*/, ''));
    }
    // Whatever the outcome, it removed what it made: its folder (engine data root, socket,
    // containerd state, volumes), the processes running from it, and ./prebuilt.
    const work = /private dockerd in (\/\S+)/.exec(run.output)?.[1];
    expect(work, 'the script names its folder').toBeDefined();
    expect(existsSync(work!), `${work} removed`).toBe(false);
    const left = spawnSync('pgrep', ['-f', '--', `${work!}/`], { encoding: 'utf8' }).stdout.trim();
    expect(left, `processes still running from ${work}`).toBe('');
    if (!hadPrebuilt) expect(existsSync(PREBUILT), './prebuilt removed').toBe(false);
    // The phases with their times, in the test log (figures for the README and CI).
    console.log(lines.filter((l) => /^docker-test: \[\d+ s\]/.test(l)).join('\n') + `\n(${Math.round((Date.now() - started) / 1000)} s)`);
    expect(run.code, lines.slice(-60).join('\n')).toBe(0);
    expect(run.output).toContain('docker-test: demo: the fetcher, told only the bootstrap, holds ./demo/model byte for byte');
  });
});
