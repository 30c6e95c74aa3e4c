/**
 * Fills in defaults for an options object. Unlike `{ ...defaults, ...init }`, a key that is
 * present but undefined (an optional flag the user did not give) keeps its default.
 */
export function withDefaults<D extends object, I extends object> (defaults: D, init: I): D & I {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) }
  for (const [key, value] of Object.entries(init)) {
    if (value !== undefined) out[key] = value
  }
  return out as D & I
}
