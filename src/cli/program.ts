/**
 * The p2pweights command line: argument parsing and output only. Every command is a thin shell
 * over the engine; errors become one `error:` line on stderr and a non-zero exit code.
 */
import { Command, CommanderError, Option } from 'commander'
import { daemon } from './commands/daemon.js'
import { fetch } from './commands/fetch.js'
import { keygen } from './commands/keygen.js'
import { loginUrlCommand, ls, rm, status } from './commands/manage.js'
import { follow, resolve, rotateKey, trustAdd, trustLs, trustRm, unfollow, withdraw } from './commands/names.js'
import { seed } from './commands/seed.js'
import { CHANGE_CHECK_INTERVAL, DEFAULT_API, DEFAULT_CHUNK_MIB, DEFAULT_MAX_CONNECTIONS, FIND_TIMEOUT, FOLLOW_INTERVAL, RESOLVE_TIMEOUT, STALL_TIMEOUT } from './constants.js'
import { addNodeFlags, count, megabytesPerSecond, mebibytes, seconds } from './options.js'
import { sanitizeText } from '../util/terminal-text.js'
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
  .argument('[folder]', 'the model folder to seed (with --hf-cache: the repo id org/name)')
  .option('--hf-cache [dir]', 'seed the snapshot refs/main points to in a Hugging Face cache (default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub): `seed --hf-cache org/name` or `seed --hf-cache DIR org/name`')
  .option('--key <file>', 'publisher key file (default: the data dir\'s publisher.key, created on first use)')
  .option('--name <name>', 'release name (default: the folder name)')
  .option('--allow-symlinks-into <dir>', 'also follow symlinks whose real path is in this folder, repeatable (e.g. a Hugging Face cache\'s blobs/); other links leaving the folder stop the seed', collect)
  .addOption(new Option('--chunk-size <MiB>', 'chunk size of a new manifest, 1 to 16 MiB (changes the CID)').default(DEFAULT_CHUNK_MIB, String(DEFAULT_CHUNK_MIB)).argParser(mebibytes))
  .addOption(new Option('--max-upload-rate <MB/s>', 'upload limit across all peers, 0 = none').default(0).argParser(megabytesPerSecond))
  .option('--no-daemon', 'run here even if a daemon runs for this data dir'))
  .action(seed)

addNodeFlags(program.command('fetch')
  .description('download a release by CID from every peer that has it, verifying every chunk')
  .argument('<cid>', 'the release CID printed by `p2pweights seed`, or a name: <publisher-id>/<org>/<model> or <alias>/<org>/<model>')
  .option('-o, --output <dir>', 'write the model folder here (default: ./<release name>)')
  .option('--trust <publisher>', 'accept only releases signed by this publisher id, repeatable', collect)
  .option('--peer <multiaddr>', 'also fetch from this peer (full address with /p2p/<id>), repeatable', collect)
  .option('--include <glob...>', 'fetch only files whose path matches one of these globs (as `hf download --include`)')
  .option('--exclude <glob...>', 'do not fetch files whose path matches one of these globs (applied after --include)')
  .option('--hf-cache [dir]', 'write the release as a Hugging Face cache entry models--org--name (default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub); put it after the CID')
  .option('--seed', 'keep seeding after the fetch completes, until Ctrl-C')
  .option('--wait', 'with a running daemon: wait until the fetch completes, showing progress')
  .option('--into-existing', 'write into an output folder that already holds other files (files at the release\'s paths are replaced); without it such a folder is refused')
  .option('--no-daemon', 'run here even if a daemon runs for this data dir')
  .option('--allow-expired', 'fetching by name: accept an expired name record (normally refused)')
  .addOption(new Option('--find-timeout <seconds>', 'give up when nothing arrives for this long').default(FIND_TIMEOUT, String(FIND_TIMEOUT / 1000)).argParser(seconds))
  .addOption(new Option('--stall-timeout <seconds>', 'drop a peer that sends nothing for this long').default(STALL_TIMEOUT, String(STALL_TIMEOUT / 1000)).argParser(seconds))
  .addOption(new Option('--max-download-rate <MB/s>', 'download limit across all peers, 0 = none').default(0).argParser(megabytesPerSecond))
  .addOption(new Option('--max-upload-rate <MB/s>', 'upload limit across all peers (it serves while it fetches), 0 = none').default(0).argParser(megabytesPerSecond)))
  .action(fetch)

addNodeFlags(program.command('daemon')
  .description('run the always-on node: seed and fetch through its HTTP API and dashboard, until Ctrl-C')
  .option('--api <host:port>', 'where the HTTP API and dashboard listen (a token from <data-dir>/api-token is always required)', DEFAULT_API)
  .addOption(new Option('--max-connections <n>', 'most peer connections at once').default(DEFAULT_MAX_CONNECTIONS).argParser(count))
  .addOption(new Option('--max-upload-rate <MB/s>', 'upload limit across all peers, 0 = none').default(0).argParser(megabytesPerSecond))
  .addOption(new Option('--max-download-rate <MB/s>', 'download limit across all peers, 0 = none').default(0).argParser(megabytesPerSecond))
  .option('--allow-folder <dir>', 'seed and fetch only under this folder (checked on real paths), repeatable (default: anywhere but the data dir)', collect)
  .option('--trust <publisher>', 'fetch through the API only releases signed by this publisher id, repeatable', collect)
  .addOption(new Option('--follow-interval <seconds>', 'how often followed names are checked for a new version').default(FOLLOW_INTERVAL, String(FOLLOW_INTERVAL / 1000)).argParser(seconds))
  .addOption(new Option('--check-interval <seconds>', 'how often seeded folders are checked for changes on disk').default(CHANGE_CHECK_INTERVAL, String(CHANGE_CHECK_INTERVAL / 1000)).argParser(seconds))
  .addOption(new Option('--stall-timeout <seconds>', 'drop a peer that sends nothing for this long, in every fetch').default(STALL_TIMEOUT, String(STALL_TIMEOUT / 1000)).argParser(seconds)))
  .action(daemon)

const manage = (command: Command): Command => command
  .option('--data-dir <dir>', 'the data dir of the daemon to ask (default: $XDG_DATA_HOME/p2pweights or ~/.local/share/p2pweights)')
  .option('--json', 'print JSON on stdout')

manage(program.command('ls').description('list what the running daemon seeds and fetches')).action(ls)
manage(program.command('status').description('show the running daemon\'s node, traffic and limits')).action(status)
manage(program.command('rm').description('stop seeding or fetching a release, or cancel a seed still hashing (never deletes a folder)')
  .argument('<cid|folder>', 'the release CID, or the folder of a seed the daemon is still hashing')).action(rm)
manage(program.command('login-url').description('print the dashboard URL that logs a browser in to the running daemon (it holds the API token: keep it private)')).action(loginUrlCommand)

// ---- signed names (docs/names.md) ----
addNodeFlags(program.command('resolve')
  .description('resolve a name to the newest release its publisher signed, under the name rules')
  .argument('<name>', '<publisher-id>/<org>/<model> or <alias>/<org>/<model>')
  .option('--peer <multiaddr>', 'also ask this peer (full address with /p2p/<id>), repeatable', collect)
  .option('--allow-expired', 'accept an expired name record (normally refused)')
  .addOption(new Option('--find-timeout <seconds>', 'how long to look').default(RESOLVE_TIMEOUT, String(RESOLVE_TIMEOUT / 1000)).argParser(seconds)))
  .action(resolve)

addNodeFlags(program.command('withdraw')
  .description('publish a new version of a name that withdraws a release: clients warn and stop fetching it by name')
  .argument('<name>', 'org/model, as published with seed --name')
  .argument('<cid>', 'the release CID to withdraw')
  .option('--key <file>', 'publisher key file (default: the data dir\'s publisher.key)')
  .option('--replacement <cid>', 'point the name at this release instead (default: at none)')
  .option('--peer <multiaddr>', 'also tell this peer (full address with /p2p/<id>), repeatable', collect))
  .action(withdraw)

program.command('rotate-key')
  .description('let a new publisher key sign your names (the current key vouches for it); the publisher id stays')
  .requiredOption('--to <file>', 'the new key file (make one with `keygen --out`)')
  .option('--key <file>', 'the current key file (default: the data dir\'s publisher.key)')
  .option('--data-dir <dir>', 'where the rotation is kept (names/chains/)')
  .option('--json', 'print one JSON object on stdout')
  .action(rotateKey)

const trust = program.command('trust').description('publishers whose names you use, with short aliases')
trust.command('add').description('trust a publisher; with --as, fetch <alias>/<org>/<model> works')
  .argument('<publisher-id>', '12D3KooW… as printed by keygen and seed')
  .option('--as <alias>', 'a short name for the publisher').option('--data-dir <dir>', 'the data dir').option('--json', 'print JSON')
  .action(trustAdd)
trust.command('ls').description('list trusted publishers').option('--data-dir <dir>', 'the data dir').option('--json', 'print JSON').action(trustLs)
trust.command('rm').description('stop trusting a publisher').argument('<publisher-or-alias>', 'publisher id or alias')
  .option('--data-dir <dir>', 'the data dir').option('--json', 'print JSON').action(trustRm)

manage(program.command('follow').description('let the daemon fetch, seed and keep the newest versions of a name')
  .argument('<name>', '<publisher-id>/<org>/<model> or <alias>/<org>/<model>')
  .addOption(new Option('--keep <n>', 'how many of the newest versions to keep').default(2).argParser(count))).action(follow)
manage(program.command('unfollow').description('stop following a name (fetched versions stay)')
  .argument('<name>', 'the followed name')).action(unfollow)

async function main (): Promise<void> {
  try {
    await program.parseAsync(process.argv)
  } catch (err: any) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2
      return
    }
    // Error messages may quote peers (reasons off the wire, names): made inert for the terminal.
    process.stderr.write(`error: ${sanitizeText(err?.message ?? String(err), { keepNewlines: true })}\n`)
    if (process.env.P2PWEIGHTS_DEBUG != null) process.stderr.write(`${err?.stack}\n`)
    process.exitCode = 1
  }
  // The command is over. libp2p leaves debounce timers behind after stop (identify push, the
  // address manager: 1 s each), which kept every command alive a second after its last line;
  // exit once what we printed has been handed to the OS.
  await Promise.all([flushed(process.stdout), flushed(process.stderr)])
  process.exit()
}

async function flushed (stream: NodeJS.WriteStream): Promise<void> {
  await new Promise<void>(resolve => stream.write('', () => resolve()))
}

void main()
