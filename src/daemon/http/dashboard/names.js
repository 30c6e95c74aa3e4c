// The dashboard's "Followed names" section: what the daemon follows (GET /api/v1/follows, and
// `follow` events), a form to follow a name, and an unfollow button per name. Text from the
// daemon goes in through textContent only.
import { api } from './api.js'

const $ = (id) => document.getElementById(id)
const follows = new Map() // ref -> FollowEntry

function render () {
  const rows = [...follows.values()].sort((a, b) => (a.ref < b.ref ? -1 : 1)).map((f) => {
    const tr = document.createElement('tr')
    tr.setAttribute('data-testid', 'follow-row')
    tr.setAttribute('data-ref', f.ref)
    const cell = (text, cls, testid) => {
      const td = document.createElement('td')
      td.className = cls
      td.setAttribute('data-testid', testid)
      td.textContent = text
      tr.appendChild(td)
      return td
    }
    cell(f.ref, 'mono', 'follow-ref-cell')
    cell(f.version == null ? '–' : String(f.version), 'num', 'follow-version')
    cell(f.versions.map((v) => `v${v.version}`).join(', ') || 'none yet', '', 'follow-kept')
    cell(f.lastCheck ? new Date(f.lastCheck).toLocaleTimeString() : '–', '', 'follow-checked')
    cell([f.error, ...(f.warnings || [])].filter(Boolean).join('; '), 'error', 'follow-notes')
    const button = document.createElement('button')
    button.type = 'button'
    button.className = 'remove'
    button.setAttribute('data-testid', 'follow-remove')
    button.textContent = 'Unfollow'
    button.addEventListener('click', () => { void unfollow(f.ref, button) })
    tr.appendChild(document.createElement('td')).appendChild(button)
    return tr
  })
  $('follow-rows').replaceChildren(...rows)
  $('follows-empty').hidden = follows.size > 0
}

/** A `follow` event from the daemon's stream. */
export function onFollowEvent (entry) {
  follows.set(entry.ref, entry)
  render()
}

async function refresh () {
  if (document.hidden) return
  try {
    const list = await api('GET', '/api/v1/follows')
    follows.clear()
    for (const f of list) follows.set(f.ref, f)
    render()
  } catch {} // as poll(): the state line tells; the next refresh tries again
}

async function unfollow (ref, button) {
  button.disabled = true
  try {
    await api('DELETE', `/api/v1/follows/${ref.split('/').map(encodeURIComponent).join('/')}`)
    follows.delete(ref)
    render()
  } catch (err) {
    $('follow-message').className = 'message bad'
    $('follow-message').textContent = err.message
  } finally {
    button.disabled = false
  }
}

$('follow-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const message = $('follow-message')
  const body = { ref: $('follow-ref').value.trim() }
  const keep = Number($('follow-keep').value)
  if (Number.isInteger(keep) && keep > 0) body.keep = keep
  message.className = 'message'
  message.textContent = 'Looking up the name…'
  try {
    const entry = await api('POST', '/api/v1/follows', body)
    onFollowEvent(entry)
    message.className = 'message ok'
    message.textContent = `Following ${entry.ref}${entry.version != null ? ` (version ${entry.version})` : ''}.`
    $('follow-form').reset()
  } catch (err) {
    message.className = 'message bad'
    message.textContent = err.message
  }
})

void refresh()
setInterval(() => { void refresh() }, 15000)
