import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { assessReachability } from '../../../src/net/reachability.js'

const RELAY = '12D3KooWRa1ayPeerRa1ayPeerRa1ayPeerRa1ayPeerRa1ay1'
const a = (text: string, type = 'transport', verified = true): { multiaddr: ReturnType<typeof multiaddr>, type: string, verified: boolean } => ({ multiaddr: multiaddr(text), type, verified })
const init = { upnp: true, relayService: false }

describe('assessReachability', () => {
  it('private and loopback addresses alone are lan-only, and the reason says what to do', () => {
    const r = assessReachability([a('/ip4/127.0.0.1/tcp/4001'), a('/ip4/10.1.2.3/tcp/4001'), a('/ip4/192.168.1.5/tcp/4001/ws')], init)
    expect(r.state).toBe('lan-only')
    expect(r.reason).toMatch(/--announce/)
    expect(r.reason).toMatch(/--relay/)
    expect(assessReachability([], { upnp: false, relayService: false }).reason).toMatch(/--no-upnp/)
  })

  it('a relay reservation makes it relayed and names the relay', () => {
    const r = assessReachability([a('/ip4/10.1.2.3/tcp/4001'), a(`/ip4/10.9.0.1/tcp/4001/p2p/${RELAY}/p2p-circuit`)], init)
    expect(r.state).toBe('relayed')
    expect(r.relays).toEqual([RELAY])
  })

  it('a UPnP mapping is mapped, and says whether AutoNAT confirmed it', () => {
    const unconfirmed = assessReachability([a('/ip4/10.1.2.3/tcp/4001'), a('/ip4/81.2.3.4/tcp/4001', 'ip-mapping', false)], init)
    expect(unconfirmed.state).toBe('mapped')
    expect(unconfirmed.reason).toMatch(/not yet confirmed/)
    expect(assessReachability([a('/ip4/81.2.3.4/tcp/4001', 'ip-mapping', true)], init).reason).toMatch(/confirmed by AutoNAT/)
  })

  it('an AutoNAT-confirmed public address beats a mapping and a relay', () => {
    const r = assessReachability([
      a('/ip4/81.2.3.4/tcp/4001', 'ip-mapping', true),
      a(`/ip4/10.9.0.1/tcp/4001/p2p/${RELAY}/p2p-circuit`),
      a('/ip4/81.2.3.4/tcp/4001', 'observed', true)
    ], init)
    expect(r.state).toBe('public')
    expect(r.reason).toMatch(/AutoNAT/)
  })

  it('an unverified observed address is not public; an --announce address is, and says it is unchecked', () => {
    expect(assessReachability([a('/ip4/81.2.3.4/tcp/4001', 'observed', false)], init).state).toBe('lan-only')
    const r = assessReachability([a('/ip4/81.2.3.4/tcp/4001', 'announce', false)], init)
    expect(r.state).toBe('public')
    expect(r.reason).toMatch(/--announce .*not checked/)
  })
})
