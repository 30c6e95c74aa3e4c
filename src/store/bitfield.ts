/** A fixed-length set of chunk numbers, one bit each, most significant bit first (as BitTorrent). */
export class Bitfield {
  readonly bytes: Uint8Array
  private setCount = 0

  constructor (readonly length: number, bytes?: Uint8Array) {
    const byteLength = Math.ceil(length / 8)
    if (bytes != null) {
      if (bytes.length !== byteLength) throw new RangeError(`bitfield of ${length} bits needs ${byteLength} bytes, got ${bytes.length}`)
      this.bytes = new Uint8Array(bytes)
      // Bits past the end must be clear, or counts would lie.
      if (length % 8 !== 0 && byteLength > 0) this.bytes[byteLength - 1] &= 0xff << (8 - (length % 8))
      for (const b of this.bytes) this.setCount += popcount(b)
    } else {
      this.bytes = new Uint8Array(byteLength)
    }
  }

  static full (length: number): Bitfield {
    const field = new Bitfield(length)
    for (let i = 0; i < length; i++) field.set(i)
    return field
  }

  get count (): number {
    return this.setCount
  }

  get complete (): boolean {
    return this.setCount === this.length
  }

  has (index: number): boolean {
    if (index < 0 || index >= this.length) return false
    return (this.bytes[index >> 3] & (0x80 >> (index & 7))) !== 0
  }

  set (index: number): void {
    if (index < 0 || index >= this.length) throw new RangeError(`bit ${index} out of range`)
    if (this.has(index)) return
    this.bytes[index >> 3] |= 0x80 >> (index & 7)
    this.setCount++
  }

  clear (index: number): void {
    if (!this.has(index)) return
    this.bytes[index >> 3] &= ~(0x80 >> (index & 7))
    this.setCount--
  }

  /** True when every bit in [from, to) is set. */
  hasRange (from: number, to: number): boolean {
    for (let i = from; i < to; i++) if (!this.has(i)) return false
    return true
  }
}

function popcount (b: number): number {
  let n = 0
  for (; b !== 0; b &= b - 1) n++
  return n
}
