/**
 * Helpers for the daemon's end-to-end tests: start `p2pweights daemon` as a child process (on
 * 127.0.0.1, off mDNS and the public DHT), talk to its HTTP API with the token from its data dir
 * (as the CLI does: the daemon prints it nowhere), poll its model list. Built on harness.ts: the
 * Harness owns every process and temp dir, so cleanup() kills and removes them.
 */
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as path from 'node:path';
import { LOCAL_ONLY, type CliEvent, type CliProcess, type Harness } from './harness.js';

export interface DaemonReady extends CliEvent {
  peerId: string;
  addrs: string[];
  /** e.g. http://127.0.0.1:41234 */
  api: string;
  models: number;
}

/** The subset of the API's ModelInfo the tests read (src/daemon/service.ts). */
export interface Model {
  cid: string;
  name: string;
  kind: 'seed' | 'fetch';
  state: string;
  path: string;
  publisher?: string;
  bytes?: number;
  verifiedBytes: number;
  uploaded: number;
  downloaded: number;
  peers: number;
  error?: string;
}

export interface RunningDaemon {
  proc: CliProcess;
  ready: DaemonReady;
  dataDir: string;
  /** The loopback TCP multiaddr with /p2p/, for --peer / --bootstrap / peers. */
  addr: string;
  /** The API token, read from <dataDir>/api-token. */
  token: string;
  api: ApiClient;
}

export interface DaemonOptions {
  /** HOST:PORT for --api; default 127.0.0.1:0. */
  api?: string;
  bootstrap?: string[];
  extra?: string[];
  timeoutMs?: number;
}

export async function startDaemon(h: Harness, label: string, dataDir: string, opts: DaemonOptions = {}): Promise<RunningDaemon> {
  const args = ['daemon', '--data-dir', dataDir, '--api', opts.api ?? '127.0.0.1:0', '--json', ...LOCAL_ONLY];
  for (const b of opts.bootstrap ?? []) args.push('--bootstrap', b);
  args.push(...(opts.extra ?? []));
  const proc = h.start(label, args);
  const ready = await proc.waitFor<DaemonReady>('ready', opts.timeoutMs ?? 30_000);
  const addr = ready.addrs.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/') && a.includes('/p2p/'));
  if (addr == null) throw new Error(`${label}: no /ip4/127.0.0.1/tcp/…/p2p/ address in ${JSON.stringify(ready.addrs)}`);
  if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(ready.api)) throw new Error(`${label}: unexpected api URL ${ready.api}`);
  const token = await readApiToken(dataDir);
  return { proc, ready, dataDir, addr, token, api: new ApiClient(ready.api, token) };
}

/** The dashboard's login URL as a user gets it: from `p2pweights login-url`. */
export async function loginUrl(h: Harness, d: RunningDaemon): Promise<string> {
  const proc = await h.run('login-url', ['login-url', '--data-dir', d.dataDir], 15_000);
  if (proc.exitInfo?.code !== 0 || proc.otherStdout.length !== 1) throw new Error(`login-url failed\n${proc.tail()}`);
  return proc.otherStdout[0];
}

/** The daemon's API token, where the CLI finds it. */
export async function readApiToken(dataDir: string): Promise<string> {
  const token = (await fs.readFile(path.join(dataDir, 'api-token'), 'utf8')).trim();
  if (token.length < 32) throw new Error(`${dataDir}/api-token holds no token`);
  return token;
}

export interface ApiResponse<T = any> {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The parsed JSON body, undefined when the body is not JSON. */
  body: T;
}

export interface RequestOptions {
  /** A raw body (sent as is); otherwise `json` is stringified. */
  raw?: string | Buffer;
  json?: unknown;
  contentType?: string;
  /** Override the token for this request; null = send none. */
  token?: string | null;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * A tiny HTTP client on node:http (not fetch), so a test can send what a browser would not: a
 * foreign Host header, an oversized body the server cuts off, malformed JSON.
 */
export class ApiClient {
  constructor(readonly url: string, readonly token?: string) {}

  async request<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    const body = opts.raw ?? (opts.json === undefined ? undefined : JSON.stringify(opts.json));
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? this.token : opts.token ?? undefined;
    if (token != null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const req = http.request(`${this.url}${path}`, { method, headers, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(parts).toString('utf8');
          let parsed: any;
          try { parsed = JSON.parse(text); } catch { parsed = undefined; }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed });
        });
      });
      const timer = setTimeout(() => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)), timeoutMs);
      // The server may answer (413) and close before it read the whole body: an EPIPE / ECONNRESET
      // on our side of the write is then not the result; the response is.
      let answered = false;
      req.on('response', () => { answered = true; });
      req.on('error', (err) => { if (!answered) { clearTimeout(timer); reject(err); } });
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  async get<T = any>(path: string, opts?: RequestOptions): Promise<ApiResponse<T>> { return this.request<T>('GET', path, opts); }
  async post<T = any>(path: string, json: unknown, opts?: RequestOptions): Promise<ApiResponse<T>> { return this.request<T>('POST', path, { ...opts, json }); }

  /** GET that must answer 200; returns the parsed body. */
  async ok<T = any>(path: string): Promise<T> {
    const res = await this.get<T>(path);
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.text}`);
    return res.body;
  }

  async models(): Promise<Model[]> { return this.ok<Model[]>('/api/v1/models'); }

  async model(cid: string): Promise<Model | undefined> {
    return (await this.models()).find((m) => m.cid === cid);
  }

  /** POST /api/v1/seeds; must answer 201 with the model seeding. */
  async seed(folder: string, name?: string): Promise<Model> {
    const res = await this.post<Model>('/api/v1/seeds', name == null ? { folder } : { folder, name }, { timeoutMs: 60_000 });
    if (res.status !== 201) throw new Error(`POST /api/v1/seeds ${folder}: ${res.status} ${res.text}`);
    return res.body;
  }

  /** POST /api/v1/fetches; must answer 202. */
  async fetch(cid: string, extra: { outDir?: string; peers?: string[]; trust?: string[] } = {}): Promise<Model> {
    const res = await this.post<Model>('/api/v1/fetches', { cid, ...extra });
    if (res.status !== 202) throw new Error(`POST /api/v1/fetches ${cid}: ${res.status} ${res.text}`);
    return res.body;
  }

  /**
   * Polls GET /api/v1/models every `everyMs` until the model `cid` satisfies `pred`; rejects
   * after timeoutMs with the last state seen (and `context()`, e.g. a process's stderr tail).
   */
  async waitForModel(cid: string, pred: (m: Model) => boolean, timeoutMs: number, opts: { everyMs?: number; context?: () => string } = {}): Promise<Model> {
    const deadline = Date.now() + timeoutMs;
    let last: Model | undefined;
    for (;;) {
      last = await this.model(cid);
      if (last != null && pred(last)) return last;
      if (Date.now() >= deadline) {
        throw new Error(`model ${cid} did not reach the expected state within ${timeoutMs} ms; last seen: ${JSON.stringify(last)}\n${opts.context?.() ?? ''}`);
      }
      await sleep(opts.everyMs ?? 100);
    }
  }
}

export interface SseMessage { type: string; data: any }

/**
 * Reads GET /api/v1/events until `until` returns true for a message (resolves with every message
 * read) or timeoutMs passes (rejects). The connection is closed either way.
 */
export async function readEvents(api: ApiClient, until: (m: SseMessage, all: SseMessage[]) => boolean, timeoutMs: number, onOpen?: () => void): Promise<SseMessage[]> {
  const messages: SseMessage[] = [];
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (api.token != null) headers.authorization = `Bearer ${api.token}`;
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      if (err) reject(err); else resolve(messages);
    };
    const req = http.get(`${api.url}/api/v1/events`, { headers, agent: false }, (res) => {
      if (res.statusCode !== 200) { finish(new Error(`GET /api/v1/events: ${res.statusCode}`)); return; }
      if (!String(res.headers['content-type']).startsWith('text/event-stream')) {
        finish(new Error(`GET /api/v1/events: content-type ${res.headers['content-type']}`));
        return;
      }
      onOpen?.();
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => {
        buffer += s;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = block.split('\n');
          const type = lines.find((l) => l.startsWith('event:'))?.slice(6).trim();
          const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
          if (type == null || data === '') continue;
          const message = { type, data: JSON.parse(data) };
          messages.push(message);
          if (until(message, messages)) { finish(); return; }
        }
      });
      res.on('end', () => finish(new Error(`event stream ended; got ${messages.map((m) => m.type).join(', ')}`)));
    });
    req.on('error', (err) => finish(err));
    const timer = setTimeout(() => finish(new Error(`event stream: condition not met within ${timeoutMs} ms; got ${messages.map((m) => m.type).join(', ')}`)), timeoutMs);
  });
}

export function sleep(ms: number): Promise<void> { return new Promise((resolve) => setTimeout(resolve, ms)); }
