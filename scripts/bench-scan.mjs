// How much the seed-time read policy (a realpath and a data-dir check per file) costs when
// scanning a folder of many small files and symlinks. Prints ms per scan (best of 5).
//   node scripts/bench-scan.mjs [files=5000] [links=1000] [dist=./dist]
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const files = Number(process.argv[2] ?? 5000)
const links = Number(process.argv[3] ?? 1000)
const dist = resolve(process.argv[4] ?? 'dist')
const { scanFolder } = await import(pathToFileURL(join(dist, 'manifest', 'build.js')).href)

const root = await mkdtemp(join(tmpdir(), 'p2pw-bench-scan-'))
try {
  const folder = join(root, 'model')
  for (let d = 0; d < 50; d++) await mkdir(join(folder, 'store', `d${d}`), { recursive: true })
  for (let i = 0; i < files; i++) await writeFile(join(folder, 'store', `d${i % 50}`, `f${i}.bin`), String(i))
  for (let i = 0; i < links; i++) await symlink(join(folder, 'store', `d${i % 50}`, `f${i}.bin`), join(folder, `link${i}.bin`))
  const times = []
  for (let run = 0; run < 5; run++) {
    const t0 = performance.now()
    const scanned = await scanFolder(folder, 4 << 20)
    times.push(performance.now() - t0)
    if (scanned.length !== files + links) throw new Error(`scanned ${scanned.length} files, expected ${files + links}`)
  }
  console.log(`${dist}: scan of ${files} files + ${links} symlinks: best ${Math.min(...times).toFixed(0)} ms, median ${times.sort((a, b) => a - b)[2].toFixed(0)} ms`)
} finally {
  await rm(root, { recursive: true, force: true })
}
