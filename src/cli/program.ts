/**
 * The p2pweights command line: argument parsing and output only. Every command is a thin shell
 * over the engine; errors become one `error:` line on stderr and a non-zero exit code.
 */
import { Command, CommanderError, Option } from 'commander'
import { daemon, DEFAULT_API } from './commands/daemon.js'
import { fetch } from './commands/fetch.js'
import { keygen } from './commands/keygen.js'
import { ls, rm, status } from './commands/manage.js'
import { DEFAULT_CHUNK_MIB, seed } from './commands/seed.js'
import { addNodeFlags, count, megabytesPerSecond, mebibytes, seconds } from './options.js'
import { VERSION } from './version.js'

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value]

const program = new Command()
  .name('p2pweights')
  .description('Share open model weights peer to peer: signed manifests, DHT discovery, verified chunks.')
  .version(VERSION)
  .showHelpAfterError()
  .exitOverride()

program.command('keygen')
  .description('write a new Ed25519 publisher key (mode 0600) and print its public id')
  .option('--out <file>', 'where to write the key (default: the data dir\'s publisher.key, which `seed` uses without --key)')
  .option('--data-dir <dir>', 'the data dir for the default --out (default: $XDG_DATA_HOME/p2pweights or ~/.local/share/p2pweights)')
  .option('--json', 'print one JSON object on stdout')
  .action(keygen)

addNodeFlags(program.command('seed')
  .description('hash a folder, sign its manifest, serve it in place and announce it in the DHT, until Ctrl-C')
  .argument('<folder>', 'the model folder to seed')
  .option('--key <file>', 'publisher key file (default: the data dir\'s publisher.key, created on first use)')
  .option('--name <name>', 'release name (default: the folder name)')
  .addOption(new Option('--chunk-size <MiB>', 'chunk size of a new manifest, 1 to 16 MiB (changes the CID)').default(DEFAULT_CHUNK_MIB, String(DEFAULT_CHUNK_MIB)).argParser(mebibytes))
  .addOption(new Option('--max-upload-rate <MB/s>', 'upload limit across all peers, 0 = none').default(0).argParser(megabytesPerSecond))
  .option('--no-daemon', 'run here even if a daemon runs for this data dir'))
  .action(seed)

addNodeFlags(program.command('fetch')
  .description('download a release by CID from every peer that has it, verifying every chunk')
  .argument('<cid>', 'the release CID printed by `p2pweights seed`')
  .option('-o, --output <dir>', 'write the model folder here (default: ./<release name>)')
  .option('--trust <publisher>', 'accept only releases signed by this publisher id, repeatable', collect)
  .option('--peer <multiaddr>', 'also fetch from this peer (full address with /p2p/<id>), repeatable', collect)
  .option('--seed', 'keep seeding after the fetch completes, until Ctrl-C')
  .option('--wait', 'with a running daemon: wait until the fetch completes, showing progress')
  .option('--no-daemon', 'run here even if a daemon runs for this data dir')
  .addOption(new Option('--find-timeout <seconds>', 'give up when nothing arrives for this long').default(60_000, '60').argParser(seconds))
  .addOption(new Option('--stall-timeout <seconds>', 'drop a peer that sends nothing for this long').default(20_000, '20').argParser(seconds))
  .addOption(new Option('--max-download-rate <MB/s>', 'download limit across all peers, 0 = none').default(0).argParser(megabytesPerSecond))
  .addOption(new Option('--max-upload-rate <MB/s>', 'upload limit across all peers (it serves while it fetches), 0 = none').default(0).argParser(megabytesPerSecond)))
  .action(fetch)

addNodeFlags(program.command('daemon')
  .description('run the always-on node: seed and fetch through its HTTP API and dashboard, until Ctrl-C')
  .option('--api <host:port>', 'where the HTTP API and dashboard listen; beyond loopback a token is required', DEFAULT_API)
  .addOption(new Option('--max-connections <n>', 'most peer connections at once').default(200).argParser(count))
  .addOption(new Option('--max-upload-rate <MB/s>', 'upload limit across all peers, 0 = none').default(0).argParser(megabytesPerSecond))
  .addOption(new Option('--max-download-rate <MB/s>', 'download limit across all peers, 0 = none').default(0).argParser(megabytesPerSecond))
  .option('--allow-folder <dir>', 'seed and fetch only under this folder, repeatable (default: anywhere)', collect)
  .addOption(new Option('--check-interval <seconds>', 'how often seeded folders are checked for changes on disk').default(30_000, '30').argParser(seconds)))
  .action(daemon)

const manage = (command: Command): Command => command
  .option('--data-dir <dir>', 'the data dir of the daemon to ask (default: $XDG_DATA_HOME/p2pweights or ~/.local/share/p2pweights)')
  .option('--json', 'print JSON on stdout')

manage(program.command('ls').description('list what the running daemon seeds and fetches')).action(ls)
manage(program.command('status').description('show the running daemon\'s node, traffic and limits')).action(status)
manage(program.command('rm').description('stop seeding or fetching a release (never deletes its folder)')
  .argument('<cid>', 'the release CID')).action(rm)

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
