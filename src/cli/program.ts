/**
 * The p2pweights command line: argument parsing and output only. Every command is a thin shell
 * over the engine; errors become one `error:` line on stderr and a non-zero exit code.
 */
import { Command, CommanderError, Option } from 'commander'
import { fetch } from './commands/fetch.js'
import { keygen } from './commands/keygen.js'
import { seed } from './commands/seed.js'
import { addNodeFlags, mebibytes, seconds } from './options.js'

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value]

const program = new Command()
  .name('p2pweights')
  .description('Share open model weights peer to peer: signed manifests, DHT discovery, verified chunks.')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride()

program.command('keygen')
  .description('write a new Ed25519 publisher key (mode 0600) and print its public id')
  .requiredOption('--out <file>', 'where to write the key')
  .option('--json', 'print one JSON object on stdout')
  .action(keygen)

addNodeFlags(program.command('seed')
  .description('hash a folder, sign its manifest, serve it in place and announce it in the DHT, until Ctrl-C')
  .argument('<folder>', 'the model folder to seed')
  .option('--key <file>', 'publisher key file (default: the data dir\'s publisher.key, created on first use)')
  .option('--name <name>', 'release name (default: the folder name)')
  .addOption(new Option('--chunk-size <MiB>', 'chunk size of a new manifest, 1 to 16 MiB (changes the CID)').default(4, '4').argParser(mebibytes)))
  .action(seed)

addNodeFlags(program.command('fetch')
  .description('download a release by CID from every peer that has it, verifying every chunk')
  .argument('<cid>', 'the release CID printed by `p2pweights seed`')
  .option('-o, --output <dir>', 'write the model folder here (default: ./<release name>)')
  .option('--trust <publisher>', 'accept only releases signed by this publisher id, repeatable', collect)
  .option('--peer <multiaddr>', 'also fetch from this peer (full address with /p2p/<id>), repeatable', collect)
  .option('--seed', 'keep seeding after the fetch completes, until Ctrl-C')
  .addOption(new Option('--find-timeout <seconds>', 'give up when nothing arrives for this long').default(60_000, '60').argParser(seconds))
  .addOption(new Option('--stall-timeout <seconds>', 'drop a peer that sends nothing for this long').default(20_000, '20').argParser(seconds)))
  .action(fetch)

async function main (): Promise<void> {
  try {
    await program.parseAsync(process.argv)
  } catch (err: any) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2
      return
    }
    process.stderr.write(`error: ${err?.message ?? String(err)}\n`)
    if (process.env.P2PWEIGHTS_DEBUG != null) process.stderr.write(`${err?.stack}\n`)
    process.exitCode = 1
  }
  // libp2p may leave timers behind after stop; the command is over.
  setTimeout(() => process.exit(), 1000).unref()
}

void main()
