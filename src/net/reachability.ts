/**
 * How others can reach this node, worked out from the addresses libp2p holds for it: what the
 * transports listen on, what --announce adds, what UPnP mapped and what AutoNAT confirmed, and
 * the /p2p-circuit addresses of relay reservations. A libp2p service, so that it sees the
 * address manager (the node object only exposes the final address list).
 *
 *   public    a public address confirmed by AutoNAT, or one the user announced
 *   mapped    a UPnP port mapping on the home router
 *   relayed   reachable through a circuit relay reservation only
 *   lan-only  every address is private or loopback and no relay holds a slot for us
 */
import { isPrivate } from '@libp2p/utils'
import type { AddressManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

export type ReachabilityState = 'public' | 'mapped' | 'relayed' | 'lan-only'

export interface ReachabilityReport {
  state: ReachabilityState
  /** One sentence: the evidence for `state`, and what to do when it is lan-only. */
  reason: string
  /** Relays that hold a reservation for us (their peer ids). */
  relays: string[]
  upnp: boolean
  relayService: boolean
}

export interface ReachabilityInit {
  upnp: boolean
  relayService: boolean
}

interface Addr { multiaddr: Multiaddr, type: string, verified: boolean }

/** The pure decision, so it can be tested on address lists alone. */
export function assessReachability (addrs: Addr[], init: ReachabilityInit): ReachabilityReport {
  const base = { upnp: init.upnp, relayService: init.relayService }
  const circuit = addrs.filter(a => isCircuit(a.multiaddr))
  const relays = [...new Set(circuit.map(a => relayOf(a.multiaddr)).filter((p): p is string => p != null))]
  const direct = addrs.filter(a => !isCircuit(a.multiaddr) && !isPrivate(a.multiaddr))
  // What the owner announced counts whatever its range: they know their network (a forwarded
  // port on a private uplink, a VPN) better than an address class does.
  const announced = addrs.filter(a => a.type === 'announce' && !isCircuit(a.multiaddr))
  const mapped = direct.filter(a => a.type === 'ip-mapping')
  const confirmed = direct.filter(a => a.verified && a.type !== 'ip-mapping' && a.type !== 'announce')
  if (confirmed.length > 0) {
    return { ...base, state: 'public', relays, reason: `AutoNAT peers dialled ${confirmed[0].multiaddr.toString()} back` }
  }
  if (mapped.length > 0) {
    const m = mapped[0]
    return { ...base, state: 'mapped', relays, reason: `the router mapped ${m.multiaddr.toString()} to this node by UPnP${m.verified ? ', confirmed by AutoNAT' : ' (not yet confirmed by AutoNAT)'}` }
  }
  if (announced.length > 0) {
    return { ...base, state: 'public', relays, reason: `--announce ${announced.map(a => a.multiaddr.toString()).join(' ')} (a forwarded port; not checked by this node)` }
  }
  if (relays.length > 0) {
    return { ...base, state: 'relayed', relays, reason: `no public address; relay ${relays.join(', ')} holds a reservation and forwards connections to this node` }
  }
  const why = [
    'every address of this node is private or loopback',
    init.upnp ? 'UPnP found no router that maps a port (yet)' : 'UPnP is off (--no-upnp)',
    'no relay holds a reservation for it'
  ]
  return {
    ...base,
    state: 'lan-only',
    relays,
    reason: `${why.join('; ')}. Peers on this LAN can fetch from it; for others forward a port and pass --announce, or use --relay`
  }
}

export function isCircuit (addr: Multiaddr): boolean {
  return addr.getComponents().some(c => c.name === 'p2p-circuit')
}

function relayOf (addr: Multiaddr): string | undefined {
  const parts = addr.getComponents()
  const circuitAt = parts.findIndex(c => c.name === 'p2p-circuit')
  return parts.slice(0, circuitAt).findLast(c => c.name === 'p2p')?.value
}

export interface ReachabilityService {
  report: () => ReachabilityReport
}

export function reachability (init: ReachabilityInit): (components: { addressManager: AddressManager }) => ReachabilityService {
  return ({ addressManager }) => ({
    report: () => assessReachability(addressManager.getAddressesWithMetadata(), init)
  })
}
