// The p2pweights dashboard: plain DOM, no framework, nothing loaded from elsewhere. Live model
// state comes from the daemon's event stream (api.js); node status and peers are polled. Every
// text from the daemon (model names come from manifests, that is from peers) goes in through
// textContent, never as HTML.
import { api, setToken, streamEvents, whenUnauthorized } from './api.js'
import { bytes, duration, limit, words } from './format.js'
import { onFollowEvent } from './names.js'

const $ = (id) => document.getElementById(id)
const POLL_MS = 5000
const models = new Map() // cid -> ModelInfo
const rows = new Map() // cid -> { tr, cells }
let orderDirty = true
let renderQueued = false
let hashingTimer = null

function setConn (kind, text) {
  const el = $('conn-state')
  el.className = `conn conn-${kind}`
  el.textContent = text
}

whenUnauthorized(() => {
  $('token-panel').hidden = false
  setConn('unauthorized', 'token needed')
})

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault()
  setToken($('token-input').value.trim())
  $('token-input').value = ''
  $('token-panel').hidden = true
  void poll()
})

function onEvent (type, msg) {
  if (type === 'snapshot') {
    models.clear()
    for (const m of msg.models) models.set(m.cid, m)
    orderDirty = true
    renderStatus(msg.status)
  } else if (type === 'model') {
    if (!models.has(msg.model.cid)) orderDirty = true
    models.set(msg.model.cid, msg.model)
  } else if (type === 'removed') {
    models.delete(msg.cid)
    orderDirty = true
  } else if (type === 'hashing') {
    showHashing(msg)
  } else if (type === 'warning') {
    addWarning(msg.message)
  } else if (type === 'follow') {
    onFollowEvent(msg.follow)
  }
  queueRender()
}

// ---- rendering ----------------------------------------------------------------------------

function queueRender () {
  if (renderQueued) return
  renderQueued = true
  requestAnimationFrame(() => { renderQueued = false; renderModels() })
}

function renderModels () {
  for (const [cid, row] of rows) {
    if (!models.has(cid)) { row.tr.remove(); rows.delete(cid) }
  }
  for (const m of models.values()) updateRow(rowFor(m.cid), m)
  if (orderDirty) {
    orderDirty = false
    const tbody = $('model-rows')
    const sorted = [...models.values()].sort((a, b) => (a.addedAt < b.addedAt ? 1 : a.addedAt > b.addedAt ? -1 : 0))
    for (const m of sorted) tbody.appendChild(rows.get(m.cid).tr)
  }
  $('models-empty').hidden = models.size > 0
  document.title = `p2pweights (${models.size})`
}

function el (tag, attrs = {}, parent) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
  if (parent) parent.appendChild(e)
  return e
}

function rowFor (cid) {
  let row = rows.get(cid)
  if (row) return row
  const tr = el('tr', { 'data-testid': 'model-row', 'data-cid': cid })
  const c = {}
  const name = el('td', {}, tr)
  c.name = el('div', { 'data-testid': 'model-name' }, name)
  c.cid = el('div', { class: 'sub mono' }, name)
  c.path = el('div', { class: 'sub mono', 'data-testid': 'model-path' }, name)
  c.error = el('div', { class: 'error', 'data-testid': 'model-error' }, name)
  c.state = el('span', { 'data-testid': 'model-state' }, el('td', {}, tr))
  c.kind = el('td', { 'data-testid': 'model-kind' }, tr)
  c.size = el('td', { class: 'num', 'data-testid': 'model-size' }, tr)
  const progress = el('td', { class: 'progress' }, tr)
  c.bar = el('progress', { max: '1000', 'data-testid': 'model-bar' }, progress)
  c.progress = el('div', { class: 'sub', 'data-testid': 'model-progress' }, progress)
  c.up = el('td', { class: 'num', 'data-testid': 'model-up' }, tr)
  c.down = el('td', { class: 'num', 'data-testid': 'model-down' }, tr)
  c.peers = el('td', { class: 'num', 'data-testid': 'model-peers' }, tr)
  const button = el('button', { type: 'button', class: 'remove', 'data-testid': 'model-remove' }, el('td', {}, tr))
  button.textContent = 'Remove'
  button.addEventListener('click', () => { void removeModel(cid, button) })
  row = { tr, cells: c }
  rows.set(cid, row)
  return row
}

function updateRow (row, m) {
  const c = row.cells
  row.tr.dataset.state = m.state
  c.name.textContent = m.name
  c.cid.textContent = m.cid
  c.path.textContent = m.path
  c.error.textContent = m.error || ''
  c.error.hidden = !m.error
  c.state.textContent = m.state
  c.state.className = `state state-${m.state}`
  c.kind.textContent = m.kind
  c.size.textContent = m.bytes == null ? '–' : bytes(m.bytes)
  if (m.bytes == null) {
    c.bar.removeAttribute('value') // indeterminate until the manifest is known
    c.progress.textContent = m.state === 'fetching' ? 'finding the release…' : m.state
  } else {
    const ratio = m.bytes === 0 ? 1 : Math.min(1, m.verifiedBytes / m.bytes)
    c.bar.value = Math.round(ratio * 1000)
    c.progress.textContent = `${(ratio * 100).toFixed(1)} % · ${bytes(m.verifiedBytes)} of ${bytes(m.bytes)}`
  }
  c.up.textContent = `${bytes(m.rate.up)}/s`
  c.down.textContent = `${bytes(m.rate.down)}/s`
  c.peers.textContent = String(m.peers)
}

function renderStatus (s) {
  $('status-peer-id').textContent = s.peerId
  $('status-version').textContent = s.version
  $('status-uptime').textContent = duration(s.uptime)
  $('status-connections').textContent = `${s.connections} of at most ${s.limits.maxConnections}`
  $('status-uploaded').textContent = `${bytes(s.uploaded)} (limit ${limit(s.limits.uploadRate)})`
  $('status-downloaded').textContent = `${bytes(s.downloaded)} (limit ${limit(s.limits.downloadRate)})`
  $('status-limits').textContent = s.limits.allowedFolders.length === 0 ? 'seeds and fetches may use any folder' : `folders under ${s.limits.allowedFolders.join(', ')}`
  $('status-dht').textContent = s.dhtProtocol
  replaceList($('status-addrs'), s.addrs.map((a) => { const li = el('li', { class: 'mono' }); li.textContent = a; return li }))
}

function renderPeers (peers) {
  $('peers-count').textContent = `(${peers.length})`
  replaceList($('peer-rows'), peers.map((p) => {
    const tr = el('tr', { 'data-testid': 'peer-row', 'data-peer-id': p.peerId })
    for (const [text, cls] of [[p.peerId, 'mono'], [p.addrs.join(' '), 'mono'], [p.direction, ''], [duration(p.openFor), 'num']]) {
      el('td', { class: cls }, tr).textContent = text
    }
    return tr
  }))
}

function replaceList (parent, children) {
  parent.replaceChildren(...children)
}

function showHashing (h) {
  const p = $('hashing')
  const pct = h.total > 0 ? (h.bytes / h.total * 100).toFixed(1) : '100.0'
  p.textContent = `Hashing ${h.folder}: ${pct} % (${bytes(h.bytes)} of ${bytes(h.total)})`
  p.hidden = false
  clearTimeout(hashingTimer)
  hashingTimer = setTimeout(() => { p.hidden = true }, h.bytes >= h.total ? 3000 : 60000)
}

function addWarning (message) {
  const list = $('warnings')
  const li = el('li')
  el('time', {}, li).textContent = new Date().toLocaleTimeString()
  li.appendChild(document.createTextNode(message))
  list.prepend(li)
  while (list.children.length > 50) list.lastElementChild.remove()
}

// ---- actions --------------------------------------------------------------------------------

async function removeModel (cid, button) {
  const m = models.get(cid)
  const what = m ? `${m.kind === 'seed' ? 'Stop seeding' : 'Stop fetching and seeding'} "${m.name}"?` : `Remove ${cid}?`
  if (!confirm(`${what}\nNothing is deleted from disk.`)) return
  button.disabled = true
  try {
    await api('DELETE', `/api/v1/models/${encodeURIComponent(cid)}`)
    models.delete(cid)
    orderDirty = true
    queueRender()
  } catch (err) {
    addWarning(`remove ${m ? m.name : cid}: ${err.message}`)
  } finally {
    button.disabled = false
  }
}

function submitForm (formId, buttonId, messageId, pending, request) {
  $(formId).addEventListener('submit', async (e) => {
    e.preventDefault()
    const button = $(buttonId)
    const message = $(messageId)
    button.disabled = true
    message.className = 'message'
    message.textContent = pending
    try {
      const { path, body, done } = request()
      const model = await api('POST', path, body)
      if (!models.has(model.cid)) orderDirty = true
      models.set(model.cid, model)
      queueRender()
      message.className = 'message ok'
      message.textContent = done(model)
      $(formId).reset()
    } catch (err) {
      message.className = 'message bad'
      message.textContent = err.message
    } finally {
      button.disabled = false
    }
  })
}

submitForm('fetch-form', 'fetch-submit', 'fetch-message', 'Adding…', () => {
  const body = { cid: $('fetch-cid').value.trim() }
  const outDir = $('fetch-outdir').value.trim()
  if (outDir) body.outDir = outDir
  const trust = words($('fetch-trust').value)
  if (trust.length > 0) body.trust = trust
  const peers = words($('fetch-peers').value)
  if (peers.length > 0) body.peers = peers
  return { path: '/api/v1/fetches', body, done: (m) => `Fetching ${m.cid} (${m.state}).` }
})

submitForm('seed-form', 'seed-submit', 'seed-message', 'Hashing the folder; a large one takes a while…', () => {
  const body = { folder: $('seed-folder').value.trim() }
  const name = $('seed-name').value.trim()
  if (name) body.name = name
  return { path: '/api/v1/seeds', body, done: (m) => `Seeding "${m.name}": ${m.cid}` }
})

// ---- polling --------------------------------------------------------------------------------

async function poll () {
  if (document.hidden) return
  try {
    const [status, peers] = await Promise.all([api('GET', '/api/v1/status'), api('GET', '/api/v1/peers')])
    renderStatus(status)
    renderPeers(peers)
  } catch {} // unreachable or unauthorized: the event stream's state line says which; next poll tries again
}

void streamEvents(onEvent, setConn)
void poll()
setInterval(() => { void poll() }, POLL_MS)
document.addEventListener('visibilitychange', () => { void poll() })
