// The dashboard's connection to the daemon: the bearer token (from the page's #token=…, kept in
// sessionStorage only, never in a URL the browser sends), JSON requests, and the event stream
// read with fetch() and a stream reader, reconnecting with backoff. EventSource is not used
// because it cannot send an Authorization header.

const TOKEN_KEY = 'p2pweights-token'
const STALL_MS = 45000 // the daemon sends a keepalive comment every 15 s

let token = readToken()
let onUnauthorized = () => {}
let streamAbort = null

function readToken () {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash)
  const fromHash = match != null ? decodeURIComponent(match[1]) : null
  if (match != null) history.replaceState(null, '', location.pathname + location.search) // out of the address bar
  try {
    if (fromHash != null) sessionStorage.setItem(TOKEN_KEY, fromHash)
    return sessionStorage.getItem(TOKEN_KEY)
  } catch {
    return fromHash
  }
}

/** Uses `value` from now on and restarts the event stream with it. */
export function setToken (value) {
  token = value
  try { sessionStorage.setItem(TOKEN_KEY, value) } catch {} // storage off (private mode): kept for this page only
  if (streamAbort != null) streamAbort.abort()
}

/** Called whenever the daemon answers 401. */
export function whenUnauthorized (fn) {
  onUnauthorized = fn
}

function headers (json) {
  const h = {}
  if (token) h.authorization = `Bearer ${token}`
  if (json) h['content-type'] = 'application/json'
  return h
}

/** A JSON request; throws an Error with the daemon's message on any non-2xx answer. */
export async function api (method, path, body) {
  const res = await fetch(path, {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store'
  })
  if (res.status === 401) onUnauthorized()
  if (res.status === 204) return undefined
  const data = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }))
  if (!res.ok) throw new Error(data.error || `${res.status} ${res.statusText}`)
  return data
}

/**
 * Reads GET /api/v1/events for ever: `onEvent(type, data)` for each message, `onState(kind,
 * text)` for the connection state (live, reconnecting, unauthorized).
 */
export async function streamEvents (onEvent, onState) {
  let delay = 1000
  for (;;) {
    const ctrl = new AbortController()
    streamAbort = ctrl
    let stall
    const alive = () => { clearTimeout(stall); stall = setTimeout(() => ctrl.abort(), STALL_MS) }
    let unauthorized = false
    try {
      alive()
      const res = await fetch('/api/v1/events', { headers: headers(false), signal: ctrl.signal, cache: 'no-store' })
      if (res.status === 401) { unauthorized = true; onUnauthorized() }
      if (!res.ok || res.body == null) throw new Error(`events: ${res.status}`)
      const reader = res.body.getReader()
      const decoder = new TextDecoder()
      let buffer = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        alive()
        buffer += decoder.decode(value, { stream: true })
        let end
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const message = parse(buffer.slice(0, end))
          buffer = buffer.slice(end + 2)
          if (message == null) continue
          if (message.type === 'snapshot') { delay = 1000; onState('live', 'live') }
          onEvent(message.type, message.data)
        }
      }
    } catch {} // the stream broke or stalled: reconnect below, with the state line saying so
    clearTimeout(stall)
    ctrl.abort()
    if (unauthorized) {
      onState('unauthorized', 'token needed')
      await sleep(2000)
      continue
    }
    onState('reconnecting', `reconnecting in ${Math.round(delay / 1000)} s`)
    await sleep(delay)
    delay = Math.min(delay * 2, 30000)
  }
}

/** One SSE message block; undefined for comments (keepalive) and `retry:`. */
function parse (block) {
  let type = 'message'
  const data = []
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) type = line.slice(6).trim()
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''))
  }
  if (data.length === 0) return undefined
  return { type, data: JSON.parse(data.join('\n')) }
}

function sleep (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
