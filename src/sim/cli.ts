#!/usr/bin/env node
/**
 * `npm run sim -- --peers N --gib G [...]`: runs one simulated swarm and prints its figures;
 * with --json the last line is one JSON object. Writes an SVG of completions over time.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { HELP, formatResult, parseSimArgs } from './args.js'
import { SimConfigError } from './config.js'
import { completionSvg } from './report.js'
import { SwarmSim } from './swarm-sim.js'

async function main (): Promise<void> {
  const { config, json, svg } = parseSimArgs(process.argv.slice(2))
  const started = performance.now()
  // Ctrl-C ends the run at the next simulated minute and reports it so far (a second one kills).
  let interrupted = false
  process.once('SIGINT', () => {
    interrupted = true
    process.stderr.write('interrupted: stopping at the next simulated minute, with the figures so far\n')
  })
  const result = await new SwarmSim(config).runUntil(() => interrupted, p => {
    process.stderr.write(`${p.simSeconds.toFixed(0)} simulated s: ${p.done}/${p.honest} done, ${p.events} events, ${((performance.now() - started) / 1000).toFixed(0)} s wall\n`)
  })
  const wall = (performance.now() - started) / 1000
  const path = svg ?? `tmp/out/sim-${config.peers}-${config.gib}-${config.seed}.svg`
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, completionSvg(result, `${config.peers} peers, ${config.gib} GiB, hostile ${config.hostile}, seed ${config.seed}: honest peers done over time`))
  console.log(formatResult(result, wall))
  console.log(`svg: ${path}`)
  if (json) {
    const { peers, gib, p50, p90, p99, originUploadRatio, wastedRatio, hostile } = result
    console.log(JSON.stringify({ peers, gib, p50, p90, p99, originUploadRatio, wastedRatio, hostile }))
  }
  if (interrupted) process.exitCode = 130
}

main().catch((err: Error) => {
  console.error(err instanceof SimConfigError ? err.message : (err.stack ?? String(err)))
  process.exit(err instanceof SimConfigError && err.message === HELP ? 0 : 1)
})
