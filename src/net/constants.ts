/** Defaults of the libp2p assembly, in one place. Times in ms. */

export const AMINO_DHT_PROTOCOL = '/ipfs/kad/1.0.0'
export const LAN_DHT_PROTOCOL = '/ipfs/lan/kad/1.0.0'

/**
 * The standard public bootstrap peers of the IPFS network. They are only an entry point: once a
 * node knows some DHT peers it no longer needs them, and any other Amino peer serves as well.
 */
export const DEFAULT_BOOTSTRAP = [
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb',
  '/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt',
  '/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ'
]

export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/0', '/ip6/::/tcp/0']
/** The daemon also listens on WebSockets, for peers behind firewalls that only pass web ports. */
export const DEFAULT_WS_LISTEN = '/ip4/0.0.0.0/tcp/0/ws'

/** yamux stream window, both ways (net/node.ts says why 1 MiB; docs/architecture.md, "Garbage collection"). */
export const STREAM_WINDOW = 1024 * 1024

/** The least a relayed connection must allow for chunks to be worth sending over it. */
export const MIN_RELAYED_BYTES = 64n * 1024n * 1024n
export const MIN_RELAYED_SECONDS = 60

/** --relay: a lost reservation is retried this often, doubling up to RELAY_RETRY_MAX while it fails. */
export const RELAY_RETRY_INTERVAL = 30_000
export const RELAY_RETRY_MAX = 10 * 60_000
