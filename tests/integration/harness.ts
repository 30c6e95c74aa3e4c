/**
 * Harness for the integration tests: they start the real CLI (dist/cli/main.js) as child
 * processes on 127.0.0.1, read its `--json` event lines, and compare bytes on disk.
 * Every wait is bounded and every child is killed in `Harness.cleanup()`, even after a failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export * from './folders.js';

// P2PW_TEST_CLI lets the suite run against another build of the CLI (e.g. an installed one).
export const CLI = process.env.P2PW_TEST_CLI ?? fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

// libp2p 3 needs Node 22+. `npm test` runs vitest under node_modules/.bin/node (24), so
// process.execPath is right; if vitest was started with the Node 20 on PATH, still use 24.
const BUNDLED_NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));
export const NODE = Number(process.versions.node.split('.')[0]) >= 22 ? process.execPath : BUNDLED_NODE;

/** Flags that keep every node on loopback, off mDNS, off UPnP (no SSDP multicast), off the public DHT. */
export const TEST_DHT = '/p2pweights-test/kad/1.0.0';
export const LOCAL_ONLY = ['--no-mdns', '--no-upnp', '--no-default-bootstrap', '--dht-protocol', TEST_DHT,
  '--listen', '/ip4/127.0.0.1/tcp/0'];

export interface CliEvent { event: string; [key: string]: unknown }
export interface KeyEvent extends CliEvent { publisher: string; path: string }
export interface ReadyEvent extends CliEvent { cid: string; peerId: string; publisher: string; addrs: string[] }
export interface ManifestEvent extends CliEvent { cid: string; name: string; publisher: string; files: unknown; bytes: number }
export interface ProgressEvent extends CliEvent { bytes: number; total: number; downloaded: number; peers: number }
export interface PeerDroppedEvent extends CliEvent { peerId: string; reason: string }
export interface DoneEvent extends CliEvent {
  cid: string; path: string; bytes: number; downloaded: number; fromPeers: Record<string, number>
}
export interface ExitInfo { code: number | null; signal: NodeJS.Signals | null }

// Last line of defence: if the test worker exits without cleanup, take the children with it.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) { try { child.kill('SIGCONT'); child.kill('SIGKILL'); } catch { /* gone */ } }
});

/** One running CLI process with its parsed stdout events and raw stderr. */
export class CliProcess {
  readonly events: CliEvent[] = [];
  readonly otherStdout: string[] = [];
  stderr = '';
  exitInfo: ExitInfo | undefined;
  paused = false;
  private readonly watchers = new Set<() => void>();
  private readonly exited: Promise<ExitInfo>;

  constructor(readonly label: string, readonly child: ChildProcess) {
    live.add(child);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = parseEvent(line);
      if (event) this.events.push(event); else this.otherStdout.push(line);
      this.notify();
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => { this.stderr += s; });
    this.exited = new Promise((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.exitInfo) return;
        this.exitInfo = { code, signal };
        live.delete(child);
        resolve(this.exitInfo);
        this.notify();
      };
      child.once('error', (err) => { this.stderr += `\n[spawn error] ${err.message}`; finish(null, null); });
      // 'close' (not 'exit') fires after stdout is drained, so every event line has been parsed.
      child.once('close', (code, signal) => finish(code, signal));
    });
  }

  get pid(): number { return this.child.pid ?? -1; }

  /** Events named `name` (optionally filtered) seen so far. */
  all<T extends CliEvent = CliEvent>(name: string, where?: (e: T) => boolean): T[] {
    return this.events.filter((e) => e.event === name && (!where || where(e as T))) as T[];
  }

  /** Resolve with the first event named `name` matching `where`; reject on exit or timeout. */
  waitFor<T extends CliEvent = CliEvent>(name: string, timeoutMs: number, where?: (e: T) => boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        stop();
        reject(new Error(`${this.label}: no "${name}" event within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      const stop = (): void => { clearTimeout(timer); this.watchers.delete(check); };
      const check = (): void => {
        const hit = this.all<T>(name, where)[0];
        if (hit) { stop(); resolve(hit); return; }
        if (this.exitInfo) {
          stop();
          reject(new Error(`${this.label}: exited (${fmtExit(this.exitInfo)}) before a "${name}" event\n${this.tail()}`));
        }
      };
      this.watchers.add(check);
      check();
    });
  }

  /** Resolve with the exit status; reject (with the stderr tail) if it takes longer than timeoutMs. */
  async waitForExit(timeoutMs: number): Promise<ExitInfo> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(
        `${this.label}: still running after ${timeoutMs} ms\n${this.tail()}`)), timeoutMs);
    });
    try { return await Promise.race([this.exited, timeout]); } finally { clearTimeout(timer); }
  }

  signal(sig: NodeJS.Signals): void {
    if (this.exitInfo) return;
    this.child.kill(sig);
    if (sig === 'SIGSTOP') this.paused = true;
    if (sig === 'SIGCONT') this.paused = false;
  }

  /** Lines of stderr starting with `error:` (the CLI's contract for failures). */
  errorLines(): string[] { return this.stderr.split('\n').filter((l) => l.startsWith('error:')); }

  /** Context for failure messages: last stderr lines and last stdout lines. */
  tail(lines = 25): string {
    const err = this.stderr.trimEnd().split('\n').slice(-lines).join('\n');
    const out = this.events.slice(-5).map((e) => JSON.stringify(e)).concat(this.otherStdout.slice(-5));
    return `--- ${this.label} stderr (tail) ---\n${err}\n--- ${this.label} stdout (tail) ---\n${out.join('\n')}`;
  }

  private notify(): void { for (const w of [...this.watchers]) w(); }
}

function parseEvent(line: string): CliEvent | undefined {
  try {
    const v: unknown = JSON.parse(line);
    if (v && typeof v === 'object' && typeof (v as CliEvent).event === 'string') return v as CliEvent;
  } catch { /* not JSON */ }
  return undefined;
}

export function fmtExit(e: ExitInfo): string {
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}

/** Owns the processes and temp dirs of one test; call cleanup() in afterEach. */
export class Harness {
  private readonly procs: CliProcess[] = [];
  private readonly dirs: string[] = [];

  /** The processes started so far (for tests that sample their memory). */
  get processes(): readonly CliProcess[] { return this.procs; }

  async tempDir(prefix: string): Promise<string> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), `p2pw-${prefix}-`));
    this.dirs.push(dir);
    return dir;
  }

  /** Start the CLI; nodeArgs go to Node itself (before the script), e.g. --trace-gc. */
  start(label: string, args: string[], nodeArgs: string[] = []): CliProcess {
    const child = spawn(NODE, [...nodeArgs, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    const proc = new CliProcess(label, child);
    this.procs.push(proc);
    return proc;
  }

  /** Start a test script under tests/ (Node strips its types), e.g. the malicious peer. */
  startScript(label: string, script: string, args: string[]): CliProcess {
    const file = fileURLToPath(new URL(script, import.meta.url));
    const child = spawn(NODE, ['--no-warnings', file, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    const proc = new CliProcess(label, child);
    this.procs.push(proc);
    return proc;
  }

  /** Start a short-lived command and wait for it to exit. */
  async run(label: string, args: string[], timeoutMs: number): Promise<CliProcess> {
    const proc = this.start(label, args);
    await proc.waitForExit(timeoutMs);
    return proc;
  }

  async keygen(file: string): Promise<KeyEvent> {
    const proc = await this.run('keygen', ['keygen', '--out', file, '--json'], 20_000);
    if (proc.exitInfo?.code !== 0) throw new Error(`keygen failed (${fmtExit(proc.exitInfo!)})\n${proc.tail()}`);
    return proc.waitFor<KeyEvent>('key', 1);
  }

  /** Start `seed` and wait for its ready event. */
  async seed(label: string, folder: string, opts: SeedOptions): Promise<{ proc: CliProcess; ready: ReadyEvent }> {
    const args = ['seed', folder, '--data-dir', opts.dataDir, '--json', ...LOCAL_ONLY];
    if (opts.key) args.push('--key', opts.key);
    if (opts.name) args.push('--name', opts.name);
    for (const b of opts.bootstrap ?? []) args.push('--bootstrap', b);
    args.push(...(opts.extra ?? []));
    const proc = this.start(label, args);
    const ready = await proc.waitFor<ReadyEvent>('ready', opts.timeoutMs ?? 30_000);
    return { proc, ready };
  }

  /** Start `fetch` (does not wait). */
  fetch(label: string, cid: string, opts: FetchOptions): CliProcess {
    const args = ['fetch', cid, '-o', opts.out, '--data-dir', opts.dataDir, '--json', ...LOCAL_ONLY];
    for (const b of opts.bootstrap ?? []) args.push('--bootstrap', b);
    for (const p of opts.peers ?? []) args.push('--peer', p);
    args.push(...(opts.extra ?? []));
    return this.start(label, args);
  }

  /** Kill every child (resuming stopped ones first) and remove every temp dir. */
  async cleanup(): Promise<void> {
    const procs = this.procs.splice(0);
    for (const p of procs) {
      if (p.paused) p.signal('SIGCONT');
      p.signal('SIGKILL');
    }
    await Promise.allSettled(procs.map((p) => p.waitForExit(10_000)));
    await Promise.allSettled(this.dirs.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
  }
}

export interface SeedOptions { dataDir: string; key?: string; name?: string; bootstrap?: string[]; timeoutMs?: number; extra?: string[] }
export interface FetchOptions { out: string; dataDir: string; bootstrap?: string[]; peers?: string[]; extra?: string[] }

/** The loopback TCP address (with /p2p/) a ready event advertises. */
export function localAddr(ready: ReadyEvent): string {
  const addr = ready.addrs.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/') && a.includes('/p2p/'));
  if (!addr) throw new Error(`no /ip4/127.0.0.1/tcp/.../p2p/ address in ${JSON.stringify(ready.addrs)}`);
  return addr;
}
