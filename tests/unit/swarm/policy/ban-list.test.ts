import { describe, expect, it } from 'vitest'
import { BanList, publicPrefix } from '../../../../src/swarm/policy/ban-list.js'
import { ManualClock } from '../../../../src/swarm/policy/clock.js'

describe('BanList', () => {
  it('bans a peer for `base`, doubling on each repeat, and decays', () => {
    const clock = new ManualClock(0)
    const bans = new BanList({ clock, base: 1000, max: 3000, forgetAfter: 10_000 })
    expect(bans.ban('p', undefined, 'corrupt')).toBe(1000)
    expect(bans.banned('p')).toBe('corrupt')
    clock.advance(1000)
    expect(bans.banned('p')).toBeUndefined()
    expect(bans.ban('p', undefined, 'again')).toBe(1000 + 2000)
    clock.advance(2000)
    expect(bans.ban('p', undefined, 'and again')).toBe(3000 + 3000) // capped at max
    clock.advance(3000 + 10_001)
    expect(bans.ban('p', undefined, 'after a long time')).toBe(clock.now() + 1000) // forgotten: afresh
  })

  it('bans a public /24 once three peers there are banned, never a private or loopback one', () => {
    const bans = new BanList({ prefixAfter: 3 })
    for (const p of ['a', 'b']) bans.ban(p, `/ip4/203.0.113.${p === 'a' ? 1 : 2}/tcp/4001`, 'bad')
    expect(bans.banned('fresh', '/ip4/203.0.113.77/tcp/4001')).toBeUndefined()
    bans.ban('c', '/ip4/203.0.113.3/tcp/4001', 'bad')
    expect(bans.banned('fresh', '/ip4/203.0.113.77/tcp/4001')).toMatch(/3 peers banned/)
    expect(bans.banned('fresh', '/ip4/203.0.114.77/tcp/4001')).toBeUndefined()
    const local = new BanList({ prefixAfter: 1 })
    local.ban('x', '/ip4/127.0.0.1/tcp/1', 'bad')
    local.ban('y', '/ip4/192.168.1.5/tcp/1', 'bad')
    expect(local.banned('honest', '/ip4/127.0.0.1/tcp/2')).toBeUndefined()
    expect(local.banned('honest', '/ip4/192.168.1.9/tcp/2')).toBeUndefined()
  })

  it('survives a round trip through JSON and ignores malformed entries', () => {
    const clock = new ManualClock(5)
    const bans = new BanList({ clock })
    bans.ban('p', '/ip4/198.51.100.1/tcp/1', 'bad')
    const saved = JSON.parse(JSON.stringify(bans))
    const back = new BanList({ clock }, { ...saved, 'peer:evil': { until: 'soon' }, other: { until: 1e15, count: 1, reason: 'x' } } as any)
    expect(back.banned('p')).toBe('bad')
    expect(back.banned('evil')).toBeUndefined()
    expect(back.size).toBe(1)
  })

  it('takes /48 prefixes of public IPv6 addresses', () => {
    expect(publicPrefix('/ip6/2001:db8:1:2::5/tcp/1')).toBe('2001:db8:1::/48')
    expect(publicPrefix('/ip6/fd00::1/tcp/1')).toBeUndefined()
    expect(publicPrefix('/ip4/100.64.0.1/tcp/1')).toBeUndefined()
  })
})
