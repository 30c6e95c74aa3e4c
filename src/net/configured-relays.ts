/**
 * Keeps a reservation on each relay named with --relay. Not a listen address given to libp2p at
 * start: one relay that is down would then fail the whole start. Instead this service asks the
 * transport manager to listen on <relay>/p2p-circuit after start, and again every `interval`
 * (doubling up to ten minutes while it fails) whenever no address of ours goes through that
 * relay any more (the relay restarted, the reservation lapsed).
 */
import type { ComponentLogger, Logger, Startable } from '@libp2p/interface'
import type { AddressManager, TransportManager } from '@libp2p/interface-internal'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { RELAY_RETRY_INTERVAL, RELAY_RETRY_MAX } from './constants.js'

export interface ConfiguredRelaysComponents {
  transportManager: TransportManager
  addressManager: AddressManager
  logger: ComponentLogger
}

class ConfiguredRelays implements Startable {
  private timer?: NodeJS.Timeout
  private running = false
  private interval: number
  private readonly log: Logger
  private readonly relays: Array<{ addr: Multiaddr, id: string }>

  constructor (private readonly components: ConfiguredRelaysComponents, relays: string[], private readonly baseInterval: number) {
    this.log = components.logger.forComponent('p2pweights:configured-relays')
    this.relays = relays.map(r => {
      const addr = multiaddr(r)
      return { addr, id: addr.getComponents().findLast(c => c.name === 'p2p')?.value ?? '' }
    })
    this.interval = baseInterval
  }

  start (): void { this.running = true }

  afterStart (): void { this.schedule(0) }

  stop (): void {
    this.running = false
    clearTimeout(this.timer)
  }

  private schedule (ms: number): void {
    if (!this.running) return
    this.timer = setTimeout(() => { void this.check() }, ms)
    this.timer.unref()
  }

  private async check (): Promise<void> {
    const ours = this.components.addressManager.getAddresses().map(a => a.toString())
    let failed = false
    for (const relay of this.relays) {
      if (ours.some(a => a.includes(`/p2p/${relay.id}/p2p-circuit`))) continue
      try {
        await this.components.transportManager.listen([relay.addr.encapsulate('/p2p-circuit')])
      } catch (err: any) {
        failed = true
        this.log.error('no reservation on relay %a yet - %e', relay.addr, err)
      }
    }
    this.interval = failed ? Math.min(this.interval * 2, RELAY_RETRY_MAX) : this.baseInterval
    this.schedule(this.interval)
  }
}

export function configuredRelays (relays: string[], interval = RELAY_RETRY_INTERVAL): (components: ConfiguredRelaysComponents) => Startable {
  return (components) => new ConfiguredRelays(components, relays, interval)
}

