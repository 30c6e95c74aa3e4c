/**
 * Network namespaces that a test builds itself: hosts, home routers with iptables NAT, and a
 * shared "internet" segment (a bridge in a namespace of its own). Private 10.x ranges only;
 * nothing touches the host's own namespace: every veth is created inside a test namespace, so
 * deleting the namespaces in cleanup() removes every veth, bridge and iptables rule with them,
 * also after a failure. Needs root, `ip` and `iptables` (.ci/run installs them from Debian).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CLI, CliProcess, NODE } from '../harness.js';

/** Why the namespace tests cannot run here, or undefined when they can. */
export const NETNS_SKIP: string | undefined = probe();

function probe(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'not root: creating network namespaces needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)';
  for (const tool of ['ip', 'iptables']) {
    try { execFileSync(tool, ['--version'], { stdio: 'ignore' }); } catch {
      try { execFileSync(tool, ['-V'], { stdio: 'ignore' }); } catch { return `\`${tool}\` is missing (Debian: apt-get install iproute2 iptables; .ci/run installs them)`; }
    }
  }
  const name = `p2pw-probe-${randomBytes(3).toString('hex')}`;
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'exec', name, 'iptables', '-t', 'nat', '-L', '-n'], { stdio: 'pipe' });
  } catch (err: any) {
    return `cannot create a network namespace with NAT here (${String(err.stderr ?? err.message).trim().split('\n')[0]})`;
  } finally {
    try { execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' }); } catch { /* never made */ }
  }
  return undefined;
}

export class NetnsLab {
  /** Short and unique per lab, so parallel test files never collide; veth names stay <= 15 chars. */
  readonly tag = randomBytes(2).toString('hex');
  private readonly namespaces: string[] = [];
  private readonly procs: CliProcess[] = [];
  private links = 0;

  /** A namespace with loopback up; returns its name. */
  ns(name: string): string {
    const full = `p2pw-${this.tag}-${name}`;
    this.namespaces.push(full);
    sh('ip', 'netns', 'add', full);
    this.exec(full, 'ip', 'link', 'set', 'lo', 'up');
    return full;
  }

  /** Runs a command inside `ns` and returns its stdout. */
  exec(ns: string, ...cmd: string[]): string {
    return sh('ip', 'netns', 'exec', ns, ...cmd);
  }

  /** A cable between two namespaces: `a` gets ipA (CIDR), `b` gets ipB; returns the interface names. */
  link(a: string, ipA: string, b: string, ipB: string): [string, string] {
    const n = this.links++;
    const ifA = `p${this.tag}${n}a`;
    const ifB = `p${this.tag}${n}b`;
    this.exec(a, 'ip', 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', b);
    this.exec(a, 'ip', 'addr', 'add', ipA, 'dev', ifA);
    this.exec(a, 'ip', 'link', 'set', ifA, 'up');
    this.exec(b, 'ip', 'addr', 'add', ipB, 'dev', ifB);
    this.exec(b, 'ip', 'link', 'set', ifB, 'up');
    this.waitForCarrier(a, ifA);
    this.waitForCarrier(b, ifB);
    return [ifA, ifB];
  }

  /**
   * Waits (at most 5 s) until the interface has carrier. A veth gets it a moment after both ends
   * are up, and Node lists an interface's addresses only once it is up *and* running: a node
   * started before that announces loopback alone (seen on a loaded machine).
   */
  private waitForCarrier(ns: string, dev: string): void {
    for (let i = 0; i < 100; i++) {
      if (/\bLOWER_UP\b/.test(this.exec(ns, 'ip', '-o', 'link', 'show', 'dev', dev))) return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
    throw new Error(`${dev} in ${ns} got no carrier within 5 s`);
  }

  /** A switch: a namespace with a bridge that plug() connects hosts to. */
  internet(): string {
    const ns = this.ns('inet');
    this.exec(ns, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    this.exec(ns, 'ip', 'link', 'set', 'br0', 'up');
    return ns;
  }

  /** Connects `host` to the bridge in `inet` with address `ip` (CIDR); returns the host's interface. */
  plug(inet: string, host: string, ip: string): string {
    const n = this.links++;
    const ifHost = `p${this.tag}${n}h`;
    const ifPort = `p${this.tag}${n}s`;
    this.exec(host, 'ip', 'link', 'add', ifHost, 'type', 'veth', 'peer', 'name', ifPort, 'netns', inet);
    this.exec(host, 'ip', 'addr', 'add', ip, 'dev', ifHost);
    this.exec(host, 'ip', 'link', 'set', ifHost, 'up');
    this.exec(inet, 'ip', 'link', 'set', ifPort, 'master', 'br0');
    this.exec(inet, 'ip', 'link', 'set', ifPort, 'up');
    this.waitForCarrier(host, ifHost);
    return ifHost;
  }

  /**
   * A home router: forwards between `lan` and `wan`, masquerades what leaves on `wan`, and lets
   * nothing in from `wan` that the home did not start (a typical consumer NAT). `outbound`
   * narrows what may leave (iptables match arguments, e.g. ['-p', 'tcp', '--dport', '443']).
   */
  router(ns: string, wan: string, lan: string, outbound?: string[]): void {
    this.exec(ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    this.exec(ns, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', wan, '-j', 'MASQUERADE');
    this.exec(ns, 'iptables', '-P', 'FORWARD', 'DROP');
    this.exec(ns, 'iptables', '-A', 'FORWARD', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT');
    this.exec(ns, 'iptables', '-A', 'FORWARD', '-i', lan, '-o', wan, ...(outbound ?? []), '-j', 'ACCEPT');
  }

  /** A port forward on a router: wan:port -> host:port (what a NAS owner sets up by hand). */
  forward(ns: string, wan: string, port: number, to: string): void {
    this.exec(ns, 'iptables', '-t', 'nat', '-A', 'PREROUTING', '-i', wan, '-p', 'tcp', '--dport', String(port), '-j', 'DNAT', '--to-destination', `${to}:${port}`);
    this.exec(ns, 'iptables', '-A', 'FORWARD', '-i', wan, '-p', 'tcp', '-d', to, '--dport', String(port), '-j', 'ACCEPT');
  }

  /** Packets that matched DNAT rules on a router (proof that a connection came in through it). */
  dnatPackets(ns: string): number {
    const out = this.exec(ns, 'iptables', '-t', 'nat', '-L', 'PREROUTING', '-v', '-x', '-n');
    return out.split('\n').filter((l) => l.includes('DNAT')).reduce((n, l) => n + Number(l.trim().split(/\s+/)[0]), 0);
  }

  /** Starts the CLI inside `ns`. */
  start(ns: string, label: string, args: string[]): CliProcess {
    const child = spawn('ip', ['netns', 'exec', ns, NODE, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    const proc = new CliProcess(label, child);
    this.procs.push(proc);
    return proc;
  }

  /** Kills every process, then deletes every namespace (and with them every link and rule). */
  async cleanup(): Promise<void> {
    const procs = this.procs.splice(0);
    for (const p of procs) p.signal('SIGKILL');
    await Promise.allSettled(procs.map(async (p) => await p.waitForExit(10_000)));
    // P2PW_NETNS_LOGS=<dir> keeps every process's output for debugging (run with DEBUG=libp2p:* for more).
    const logs = process.env.P2PW_NETNS_LOGS;
    if (logs != null) {
      mkdirSync(logs, { recursive: true });
      for (const p of procs) writeFileSync(path.join(logs, `${p.label}.log`), `${p.events.map((e) => JSON.stringify(e)).join('\n')}\n--- stderr ---\n${p.stderr}`);
    }
    for (const ns of this.namespaces.splice(0).reverse()) {
      try { sh('ip', 'netns', 'del', ns); } catch { /* already gone */ }
    }
  }
}

function sh(cmd: string, ...args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err: any) {
    throw new Error(`${cmd} ${args.join(' ')} failed: ${String(err.stderr ?? err.message).trim()}`);
  }
}
