/** Flags shared by the commands that run a node, and turning them into EngineOptions. */
import { type Command, InvalidArgumentError, Option } from 'commander'
import { multiaddr } from '@multiformats/multiaddr'
import { AMINO_DHT_PROTOCOL, DEFAULT_BOOTSTRAP, DEFAULT_LISTEN, DEFAULT_RELAY_LIMITS } from '../net/node.js'
import { defaultDataDir } from '../store/data-dir.js'
import type { EngineOptions } from '../engine/engine.js'

export interface NodeFlags {
  dataDir?: string
  listen?: string[]
  bootstrap?: string[]
  defaultBootstrap: boolean
  mdns: boolean
  dhtProtocol: string
  json?: boolean
  relayService: boolean
  relayMaxReservations: number
  /** ms; 0 = none */
  relayMaxDuration: number
  /** MiB; 0 = none */
  relayMaxData: number
  relay?: string[]
  announce?: string[]
  /** false with --no-upnp */
  upnp: boolean
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value]

export function addNodeFlags (command: Command): Command {
  return command
    .option('--data-dir <dir>', 'where keys, releases and caches live (default: $XDG_DATA_HOME/p2pweights or ~/.local/share/p2pweights)')
    .option('--listen <multiaddr>', `address to listen on, repeatable (default: ${DEFAULT_LISTEN.join(' ')})`, collect)
    .option('--bootstrap <multiaddr>', 'a peer to join the DHT through, repeatable (replaces the default list)', collect)
    .option('--no-default-bootstrap', 'do not use the built-in public bootstrap peers')
    .option('--no-mdns', 'do not look for peers on the local network')
    .addOption(new Option('--dht-protocol <protocol>', 'DHT protocol id; anything but the default makes a closed swarm').default(AMINO_DHT_PROTOCOL))
    .option('--json', 'print one JSON object per line on stdout')
    .option('--announce <multiaddr>', 'also advertise this address, e.g. a port forwarded on the router: /ip4/<public ip>/tcp/<port>; repeatable', collectAddr(false))
    .option('--relay <multiaddr>', 'reserve a slot on this circuit relay (full address with /p2p/<id>) so peers reach this node through it; repeatable', collectAddr(true))
    .option('--no-upnp', 'do not ask the home router for a port mapping (UPnP)')
    .option('--relay-service', 'relay connections for peers that cannot be reached directly (costs upload and download bandwidth, twice per relayed byte)')
    .addOption(new Option('--relay-max-reservations <n>', 'with --relay-service: most peers that hold a slot at once').default(DEFAULT_RELAY_LIMITS.maxReservations).argParser(count))
    .addOption(new Option('--relay-max-duration <seconds>', 'with --relay-service: a relayed connection is closed after this long, 0 = never').default(DEFAULT_RELAY_LIMITS.durationLimit, String(DEFAULT_RELAY_LIMITS.durationLimit / 1000)).argParser(secondsOrZero))
    .addOption(new Option('--relay-max-data <MiB>', 'with --relay-service: a relayed connection is closed after this many MiB (both directions together), 0 = never').default(DEFAULT_RELAY_LIMITS.dataLimit / 2 ** 20).argParser(wholeOrZero))
}

function collectAddr (needsPeerId: boolean): (value: string, previous: string[] | undefined) => string[] {
  return (value, previous) => {
    let ok = false
    try {
      const parts = multiaddr(value).getComponents()
      ok = !needsPeerId || parts.some(c => c.name === 'p2p')
    } catch {
      // not a multiaddr: refused just below
    }
    if (!ok) throw new InvalidArgumentError(`"${value}" is not a multiaddr${needsPeerId ? ' ending in /p2p/<peer id>' : ''}, e.g. /ip4/198.51.100.7/tcp/4001${needsPeerId ? '/p2p/12D3KooW…' : ''}`)
    return [...(previous ?? []), value]
  }
}

export function engineOptions (flags: NodeFlags): Omit<EngineOptions, 'onEvent'> {
  const bootstrap = [...(flags.bootstrap ?? [])]
  // The public bootstrap peers only make sense on the public DHT, and only when the user named
  // none of their own (so a test or a closed swarm never reaches out by accident).
  if (bootstrap.length === 0 && flags.defaultBootstrap && flags.dhtProtocol === AMINO_DHT_PROTOCOL) bootstrap.push(...DEFAULT_BOOTSTRAP)
  return {
    dataDir: flags.dataDir ?? defaultDataDir(),
    listen: flags.listen,
    bootstrap,
    mdns: flags.mdns,
    dhtProtocol: flags.dhtProtocol,
    announce: flags.announce,
    relays: flags.relay,
    upnp: flags.upnp,
    relayService: flags.relayService
      ? { maxReservations: flags.relayMaxReservations, durationLimit: flags.relayMaxDuration, dataLimit: flags.relayMaxData * 2 ** 20 }
      : undefined
  }
}

export function seconds (value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number of seconds, got "${value}"`)
  return n * 1000
}

function secondsOrZero (value: string): number {
  return value.trim() === '0' ? 0 : seconds(value)
}

function wholeOrZero (value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number >= 0, got "${value}"`)
  return n
}

export function mebibytes (value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new InvalidArgumentError(`expected a whole number of MiB from 1 to 16, got "${value}"`)
  return n
}

export function count (value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a whole number >= 1, got "${value}"`)
  return n
}

export function megabytesPerSecond (value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected MB/s >= 0, got "${value}"`)
  return n
}
