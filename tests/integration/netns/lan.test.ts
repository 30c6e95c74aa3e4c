/**
 * Issue 8, test 1: two hosts on one private subnet, on default flags (the public DHT protocol
 * string, UPnP on) but with no mDNS and no public bootstrap peers: a fetch bootstrapped from any
 * node works. What makes it work is the LAN DHT beside the public one (the public one drops the
 * 10.x addresses) and want-broadcast (connected peers are asked directly).
 * Real processes in network namespaces the test builds; 10.77.1.0/24 only.
 */
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareFolders, fmtExit, Harness, makeModelFolder, MiB, type CliEvent, type CliProcess, type ReadyEvent } from '../harness.js';
import { NETNS_SKIP, NetnsLab } from './netns.js';

const FILES = [{ path: 'model.safetensors', size: 6 * MiB + 123 }, { path: 'config.json', size: 700 }];
const DEFAULTS = ['--no-mdns', '--no-default-bootstrap', '--json'];

// Skipped only where network namespaces cannot be built (not Linux, not root, or no `ip`/iptables: run
// scripts/install-netns.sh); NETNS_SKIP says which, and the suite's title repeats it.
describe.skipIf(NETNS_SKIP != null)(`LAN on default flags (netns)${NETNS_SKIP != null ? ` — skipped: ${NETNS_SKIP}` : ''}`, () => {
  const h = new Harness();
  const lab = new NetnsLab();
  let hostA: string, hostB: string, src: string, cid: string, seederAddr: string, nodeAddr: string, nodeDir: string;

  beforeAll(async () => {
    hostA = lab.ns('a');
    hostB = lab.ns('b');
    lab.link(hostA, '10.77.1.1/24', hostB, '10.77.1.2/24');
    src = await h.tempDir('lan-src');
    await makeModelFolder(src, FILES, 'lan');
    // An always-on node on host B, and the seeder on host A that joined the DHT through it.
    nodeDir = await h.tempDir('lan-n');
    const node = lab.start(hostB, 'node-b', ['daemon', '--data-dir', nodeDir, '--api', '127.0.0.1:0', ...DEFAULTS]);
    const nodeReady = await node.waitFor<ReadyEvent>('ready', 30_000);
    nodeAddr = addrOn(nodeReady, '10.77.1.2');
    // the daemon listens on WebSockets by default, beside TCP
    expect(nodeReady.addrs.some((a) => /^\/ip4\/10\.77\.1\.2\/tcp\/\d+\/ws\/p2p\//.test(a)), JSON.stringify(nodeReady.addrs)).toBe(true);
    const seeder = lab.start(hostA, 'seeder-a', ['seed', src, '--data-dir', await h.tempDir('lan-s'), '--bootstrap', nodeAddr, ...DEFAULTS]);
    const ready = await seeder.waitFor<ReadyEvent>('ready', 30_000);
    cid = ready.cid;
    seederAddr = addrOn(ready, '10.77.1.1');
    // Its provider record reached the node on B (through the LAN DHT: the public one has no use for 10.x).
    await seeder.waitFor<CliEvent>('announced', 60_000, (e) => e.cid === cid && (e.peers as number) > 0);
  }, 120_000);

  afterAll(async () => {
    await lab.cleanup();
    await h.cleanup();
  });

  async function fetchFrom(label: string, bootstrap: string): Promise<CliProcess> {
    const out = path.join(await h.tempDir(label), 'out');
    const fetch = lab.start(hostB, label, ['fetch', cid, '-o', out, '--data-dir', await h.tempDir(`${label}-d`), '--bootstrap', bootstrap, ...DEFAULTS]);
    const exit = await fetch.waitForExit(60_000);
    expect(exit.code, `${fmtExit(exit)}\n${fetch.tail()}`).toBe(0);
    expect(await compareFolders(src, out)).toEqual([]);
    return fetch;
  }

  it('a fetch bootstrapped from a third node finds the seeder through the LAN DHT', async () => {
    await fetchFrom('fetch-via-node', nodeAddr);
  }, 90_000);

  it('`status` says how the node is reachable, and why', async () => {
    const status = lab.start(hostB, 'status', ['status', '--data-dir', nodeDir]);
    expect((await status.waitForExit(20_000)).code, status.tail()).toBe(0);
    expect(status.otherStdout.join('\n')).toMatch(/^reachable\s+lan-only: every address of this node is private/m);
    const json = lab.start(hostB, 'status-json', ['status', '--data-dir', nodeDir, '--json']);
    await json.waitForExit(20_000);
    const s = json.all<CliEvent>('status')[0];
    expect(s.reachability).toMatchObject({ state: 'lan-only', upnp: true, relayService: false, relays: [] });
  }, 60_000);

  it('a fetch bootstrapped from the seeder itself asks it directly', async () => {
    const fetch = await fetchFrom('fetch-via-seeder', seederAddr);
    const done = fetch.all<CliEvent>('done')[0];
    expect(Object.keys(done.fromPeers as Record<string, number>)).toEqual([seederAddr.split('/p2p/')[1]]);
  }, 90_000);
});

function addrOn(ready: ReadyEvent, ip: string): string {
  const addr = ready.addrs.find((a) => a.startsWith(`/ip4/${ip}/tcp/`) && !a.includes('/ws') && !a.includes('p2p-circuit'));
  if (addr == null) throw new Error(`no /ip4/${ip}/tcp address in ${JSON.stringify(ready.addrs)}`);
  return addr;
}
