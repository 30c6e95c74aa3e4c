// Number formatting for the dashboard.

/** 1536 -> "1.5 KiB" (binary units, as disks and the CLI report sizes). */
export function bytes (n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`
}

/** A rate limit in bytes per second; 0 means none. */
export function limit (n) {
  return n > 0 ? `${bytes(n)}/s` : 'none'
}

/** Seconds as "3 d 4 h", "2 h 5 min", "4 min 10 s" or "12 s". */
export function duration (s) {
  const d = Math.floor(s / 86400)
  const h = Math.floor(s % 86400 / 3600)
  const m = Math.floor(s % 3600 / 60)
  if (d > 0) return `${d} d ${h} h`
  if (h > 0) return `${h} h ${m} min`
  if (m > 0) return `${m} min ${s % 60} s`
  return `${s} s`
}

/** "a, b c" -> ["a", "b", "c"] */
export function words (text) {
  return text.split(/[\s,]+/).filter((s) => s !== '')
}
