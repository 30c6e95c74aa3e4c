/**
 * Initial seeding (BitTorrent's super-seeding) for the origin of a release. Pure policy (no I/O),
 * shared by the real server and the simulator.
 *
 * While on, the origin offers (in HAVE, and serves) only the chunks it has uploaded least, so
 * every chunk leaves it once before any leaves it twice: fetchers must get the second copy of a
 * chunk from each other, and the origin uploads about one copy of the model for a crowd of any
 * size. It turns itself off once every chunk has been uploaded once; from then on it is an
 * ordinary seeder (so nothing can wait on it forever: while some chunk is at zero, that chunk is
 * offered, and every fetcher still needs it). A lone fetcher gets every chunk exactly as before.
 */
export class SuperSeeder {
  private readonly uploads: Uint32Array
  /** Chunks uploaded at least once. */
  private sent = 0
  private bits?: Uint8Array

  constructor (readonly total: number) {
    this.uploads = new Uint32Array(total)
  }

  get active (): boolean {
    return this.sent < this.total
  }

  /** Whether a request for `chunk` is served now. */
  offers (chunk: number): boolean {
    return !this.active || this.uploads[chunk] === 0
  }

  /** A chunk's upload completed. Returns true when this ended initial seeding. */
  uploaded (chunk: number): boolean {
    if (chunk < 0 || chunk >= this.total) return false
    const was = this.active
    if (this.uploads[chunk]++ === 0) {
      this.sent++
      if (this.bits != null) this.bits[chunk >> 3] &= ~(0x80 >> (chunk & 7))
    }
    return was && !this.active
  }

  /** The chunks offered now, as a HAVE bitfield (most significant bit first). */
  bitfield (): Uint8Array {
    if (this.bits == null) {
      this.bits = new Uint8Array(Math.ceil(this.total / 8))
      for (let c = 0; c < this.total; c++) if (this.uploads[c] === 0) this.bits[c >> 3] |= 0x80 >> (c & 7)
    }
    return this.bits
  }
}
