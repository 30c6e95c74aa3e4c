/** Flags shared by the commands that run a node, and turning them into EngineOptions. */
import { type Command, InvalidArgumentError, Option } from 'commander'
import { AMINO_DHT_PROTOCOL, DEFAULT_BOOTSTRAP, DEFAULT_LISTEN } from '../net/node.js'
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
    dhtProtocol: flags.dhtProtocol
  }
}

export function seconds (value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number of seconds, got "${value}"`)
  return n * 1000
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
