// Copies files tsc does not emit (the daemon's dashboard) into dist/, as part of `npm run build`.
import { cp, rm } from 'node:fs/promises'

const assets = [
  ['src/daemon/http/dashboard', 'dist/daemon/http/dashboard']
]

const root = new URL('../', import.meta.url)
for (const [from, to] of assets) {
  const target = new URL(to, root)
  await rm(target, { recursive: true, force: true })
  await cp(new URL(from, root), target, { recursive: true })
}
