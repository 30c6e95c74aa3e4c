/** `p2pweights keygen`: a new Ed25519 publisher key. */
import { resolve } from 'node:path'
import { publisherId } from '../../manifest/signed.js'
import { DataDir, defaultDataDir } from '../../store/data-dir.js'
import { createKeyFile } from '../../store/keys.js'
import { Reporter } from '../reporter.js'

export async function keygen (flags: { out?: string, dataDir?: string, json?: boolean }): Promise<void> {
  const reporter = new Reporter(flags.json === true)
  let path: string
  if (flags.out != null) {
    path = resolve(flags.out)
  } else {
    const dataDir = new DataDir(flags.dataDir ?? defaultDataDir())
    await dataDir.init()
    path = dataDir.publisherKeyPath
  }
  const key = await createKeyFile(path)
  const publisher = publisherId(key.publicKey.raw)
  if (flags.json === true) reporter.result({ event: 'key', publisher, path })
  else {
    process.stdout.write(publisher + '\n')
    reporter.info(`wrote publisher key to ${path} (keep it secret; share the id above)`)
  }
}
