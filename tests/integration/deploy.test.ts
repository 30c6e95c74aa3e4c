/**
 * The deployment files against the CLI they drive: docker-compose.yml, Dockerfile,
 * .dockerignore and scripts/p2pweights.service may only name commands and flags that the built
 * CLI's --help lists, and host paths that exist in the repo or that the documented setup
 * creates. Then the compose `demo` profile runs for real, as processes on 127.0.0.1: the same
 * entrypoint and commands, with loopback addresses instead of service names and temp folders
 * instead of volumes; the fetcher, knowing only the bootstrap, must end up with the seeder's
 * model byte for byte.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  CLI, CliProcess, compareFolders, fmtExit, Harness, makeModelFolder, MiB, NODE, totalSize,
  type CliEvent, type FileSpec,
} from './harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const repo = (...p: string[]): string => path.join(ROOT, ...p);
const DEMO_ENTRYPOINT = 'scripts/demo-entrypoint.mjs';

// ---- what the CLI says it accepts ----------------------------------------------------------

interface OptionHelp { takesValue: boolean; placeholder?: string }
interface CommandHelp { options: Map<string, OptionHelp>; args: number }
interface CliHelp { commands: Set<string>; command: Map<string, CommandHelp> }

function runHelp(args: string[]): string {
  const r = spawnSync(NODE, [CLI, ...args, '--help'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, NO_COLOR: '1', COLUMNS: '200' } });
  if (r.status !== 0) throw new Error(`p2pweights ${args.join(' ')} --help exited ${r.status ?? r.signal}\n${r.stderr}`);
  return r.stdout;
}

/** Lines of a commander help section ("Options:", "Commands:", "Arguments:"), entries only. */
function section(help: string, title: string): string[] {
  const lines = help.split('\n');
  const start = lines.findIndex((l) => l.trim() === title);
  if (start < 0) return [];
  const out: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    if (/^ {2}\S/.test(line)) out.push(line.trim()); // deeper indent = a wrapped description
  }
  return out;
}

function parseCommands(help: string): Set<string> {
  return new Set(section(help, 'Commands:').map((l) => l.split(/\s+/)[0]).filter((c) => c !== 'help'));
}

function parseOptions(help: string): Map<string, OptionHelp> {
  const options = new Map<string, OptionHelp>();
  for (const line of section(help, 'Options:')) {
    const term = line.split(/\s{2,}/)[0]; // "-o, --output <dir>"
    const placeholder = /[<[]([^>\]]+)[>\]]/.exec(term)?.[1];
    for (const flag of term.match(/(?<![\w-])--?[A-Za-z0-9][\w-]*/g) ?? []) {
      options.set(flag, { takesValue: placeholder != null, placeholder });
    }
  }
  return options;
}

function loadCliHelp(): CliHelp {
  const commands = parseCommands(runHelp([]));
  const command = new Map<string, CommandHelp>();
  for (const name of commands) {
    const help = runHelp([name]);
    command.set(name, { options: parseOptions(help), args: section(help, 'Arguments:').length });
  }
  return { commands, command };
}

/** Problems with one p2pweights command line (argv without the program). */
function checkCommandLine(where: string, argv: string[], cli: CliHelp): string[] {
  const problems: string[] = [];
  const [name, ...rest] = argv;
  const cmd = cli.command.get(name ?? '');
  if (cmd == null) return [`${where}: "${name}" is not a p2pweights command (${[...cli.commands].join(', ')})`];
  let positionals = 0;
  for (let i = 0; i < rest.length; i++) {
    const token = rest[i];
    if (!token.startsWith('-')) { positionals++; continue; }
    const [flag, inline] = token.split(/=(.*)/s);
    const opt = cmd.options.get(flag);
    if (opt == null) { problems.push(`${where}: ${name} has no flag ${flag}`); continue; }
    if (!opt.takesValue && inline != null) problems.push(`${where}: ${flag} takes no value`);
    if (opt.takesValue && inline == null) {
      const value = rest[i + 1];
      if (value == null || value.startsWith('--')) problems.push(`${where}: ${flag} needs a value`);
      i++;
    }
  }
  if (positionals > cmd.args) problems.push(`${where}: ${name} takes ${cmd.args} argument(s), got ${positionals}`);
  return problems;
}

/** Values of the given flags in a command line ("--flag v" and "--flag=v"). */
function flagValues(argv: string[], flags: string[]): Array<{ flag: string; value: string }> {
  const out: Array<{ flag: string; value: string }> = [];
  argv.forEach((token, i) => {
    const [flag, inline] = token.split(/=(.*)/s);
    if (!flags.includes(flag)) return;
    const value = inline ?? argv[i + 1];
    if (value != null) out.push({ flag, value });
  });
  return out;
}

/** Flags whose value is a filesystem path, by their help placeholder. */
function pathFlags(cmd: CommandHelp | undefined): string[] {
  return [...(cmd?.options ?? new Map<string, OptionHelp>())]
    .filter(([flag, o]) => flag.startsWith('--') && /^(dir|file|folder|path)$/i.test(o.placeholder ?? ''))
    .map(([flag]) => flag);
}

const isUnder = (p: string, root: string): boolean =>
  p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);

// ---- docker-compose.yml --------------------------------------------------------------------

interface ComposeService {
  build?: string | { context?: string; dockerfile?: string };
  image?: string;
  command?: string[] | string;
  entrypoint?: string[] | string;
  volumes?: string[];
  ports?: string[];
  profiles?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test?: string[] | string; interval?: string };
  restart?: string;
  ulimits?: { nofile?: number | { soft: number; hard: number } };
}
interface Compose { services: Record<string, ComposeService>; volumes?: Record<string, unknown> }

function loadCompose(): { compose: Compose; text: string } {
  const text = readFileSync(repo('docker-compose.yml'), 'utf8');
  return { compose: parseYaml(text, { merge: true }) as Compose, text };
}

const asArray = (v: string[] | string | undefined): string[] => (v == null ? [] : Array.isArray(v) ? v.map(String) : v.split(/\s+/));

/** `${VAR:-default}` / `${VAR-default}` → default; a variable without a default is a problem. */
function interpolate(s: string): { value: string; problems: string[] } {
  const problems: string[] = [];
  const value = s.replace(/\$\{(\w+)(:?-([^}]*))?\}/g, (_m, name: string, dflt: string | undefined, v: string | undefined) => {
    if (dflt == null) problems.push(`\${${name}} has no default`);
    return v ?? '';
  });
  return { value, problems };
}

interface Mount { host?: string; volume?: string; target: string; readOnly: boolean }

/** Short volume syntax, after interpolation: SOURCE:TARGET[:MODE]. */
function parseVolume(spec: string): Mount {
  const parts = interpolate(spec).value.split(':');
  const [source, target, mode] = parts;
  const readOnly = (mode ?? '').split(',').includes('ro');
  if (/^[./~$]/.test(source)) return { host: source, target, readOnly };
  return { volume: source, target, readOnly };
}

/** The folders the compose file's setup comment creates: "mkdir -p a b && …". */
function setupDirs(text: string): string[] {
  const comment = text.split('\n').filter((l) => l.startsWith('#')).join('\n');
  const m = /mkdir -p ([^&;#\n]+)/.exec(comment);
  return m == null ? [] : m[1].trim().split(/\s+/).map((d) => path.normalize(d));
}

/** The demo entrypoint's own options, from its header comment: "//   --write-addr FILE  …". */
function entrypointOptions(): Map<string, OptionHelp> {
  const opts = new Map<string, OptionHelp>();
  for (const m of readFileSync(repo(DEMO_ENTRYPOINT), 'utf8').matchAll(/^\/\/ +(--[\w-]+) ([A-Z]+)\b/gm)) {
    opts.set(m[1], { takesValue: true, placeholder: m[2] });
  }
  return opts;
}

/** A service's full argv split into entrypoint options and the p2pweights command line. */
function serviceArgv(svc: ComposeService): { entrypoint: string[]; own: string[]; p2pweights: string[] } {
  const entrypoint = asArray(svc.entrypoint);
  const command = asArray(svc.command);
  if (entrypoint.length === 0) return { entrypoint, own: [], p2pweights: command };
  const split = command.indexOf('--');
  return split < 0
    ? { entrypoint, own: command, p2pweights: [] }
    : { entrypoint, own: command.slice(0, split), p2pweights: command.slice(split + 1) };
}

const DEMO = ['bootstrap', 'seeder', 'fetcher'];

// ---- Dockerfile and .dockerignore ----------------------------------------------------------

interface Instruction { op: string; args: string; line: number }
interface Stage { name?: string; from: string; instructions: Instruction[] }

/** Stages in order; `globals` gets the ARGs declared before the first FROM, with their defaults. */
function parseDockerfile(text: string, globals = new Map<string, string>()): Stage[] {
  const stages: Stage[] = [];
  const logical: Array<{ text: string; line: number }> = [];
  let buf = '';
  let startLine = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (buf === '' && (line === '' || line.startsWith('#'))) return;
    if (buf !== '' && line.startsWith('#')) return; // comments inside a continued instruction
    if (buf === '') startLine = i + 1;
    if (line.endsWith('\\')) { buf += line.slice(0, -1) + ' '; return; }
    logical.push({ text: buf + line, line: startLine });
    buf = '';
  });
  for (const { text: l, line } of logical) {
    const [, op, args] = /^(\w+)\s+(.*)$/s.exec(l) ?? [];
    if (op == null) continue;
    const ins = { op: op.toUpperCase(), args: args.trim(), line };
    if (ins.op === 'FROM') {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(ins.args) ?? [];
      stages.push({ from, name, instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1].instructions.push(ins);
    } else if (ins.op === 'ARG') {
      const [, name, value] = /^(\w+)(?:=(\S*))?/.exec(ins.args) ?? [];
      if (name != null) globals.set(name, value ?? '');
    }
  }
  return stages;
}

/** Folders the final image has: made by `RUN mkdir -p` or declared as a VOLUME. */
function imageDirs(stage: Stage): string[] {
  const ops = (op: string): Instruction[] => stage.instructions.filter((i) => i.op === op);
  const made = ops('RUN').flatMap((r) => [...r.args.matchAll(/mkdir -p ((?:\/\S+\s*)+)/g)].flatMap((m) => m[1].trim().split(/\s+/)));
  const volumes = ops('VOLUME').flatMap((v) => jsonForm(v.args) ?? v.args.split(/\s+/));
  return [...made, ...volumes];
}

const jsonForm = (s: string): string[] | undefined => {
  try { const v: unknown = JSON.parse(s); return Array.isArray(v) ? v.map(String) : undefined; } catch { return undefined; }
};

interface Copy { from?: string; sources: string[]; dest: string }

/** COPY instructions of a stage, destinations made absolute against WORKDIR. */
function copies(stage: Stage): Copy[] {
  let workdir = '/';
  const out: Copy[] = [];
  for (const ins of stage.instructions) {
    if (ins.op === 'WORKDIR') workdir = path.posix.resolve(workdir, ins.args);
    if (ins.op !== 'COPY') continue;
    const words = ins.args.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    const paths = words.filter((w) => !w.startsWith('--'));
    const dest = paths.pop()!;
    const abs = path.posix.resolve(workdir, dest) + (dest.endsWith('/') ? '/' : '');
    out.push({ from, sources: paths, dest: abs });
  }
  return out;
}

/** Where an absolute image path comes from: a repo path, or a build stage's path. */
function imageSource(stage: Stage, p: string): { repo?: string; stage?: string; stagePath?: string } | undefined {
  for (const c of copies(stage)) {
    for (const src of c.sources) {
      const target = c.dest.endsWith('/') ? path.posix.join(c.dest, path.posix.basename(src)) : c.dest.replace(/\/$/, '');
      if (!isUnder(p, target)) continue;
      const rest = path.posix.relative(target, p);
      if (c.from != null) return { stage: c.from, stagePath: path.posix.join(src, rest) };
      return { repo: path.posix.join(src, rest) };
    }
  }
  return undefined;
}

/** .dockerignore semantics: last matching pattern wins; a pattern also matches everything under a match. */
function dockerIgnored(patterns: string[], rel: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pat = path.posix.normalize((negate ? raw.slice(1) : raw).replace(/^\/+/, '')).replace(/\/+$/, '');
    const re = new RegExp(`^${pat.split(/(\*\*\/|\*\*|\*|\?)/).map((part) => (
      part === '**/' ? '(?:.*/)?' : part === '**' ? '.*' : part === '*' ? '[^/]*' : part === '?' ? '[^/]'
        : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')
    )).join('')}$`);
    const segments = rel.split('/');
    const hit = segments.some((_, i) => re.test(segments.slice(0, i + 1).join('/')));
    if (hit) ignored = !negate;
  }
  return ignored;
}

function dockerignorePatterns(): string[] {
  return readFileSync(repo('.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

// ---- systemd unit --------------------------------------------------------------------------

function parseUnit(text: string): Map<string, string[]> {
  const entries = new Map<string, string[]>();
  let sectionName = '';
  let buf = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (buf === '' && (line === '' || line.startsWith('#') || line.startsWith(';'))) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (buf === '' && sec) { sectionName = sec[1]; continue; }
    if (line.endsWith('\\')) { buf += line.slice(0, -1) + ' '; continue; }
    const full = buf + line;
    buf = '';
    const eq = full.indexOf('=');
    if (eq < 0) continue;
    const key = `${sectionName}.${full.slice(0, eq).trim()}`;
    entries.set(key, [...(entries.get(key) ?? []), full.slice(eq + 1).trim()]);
  }
  return entries;
}

// ---- the tests -----------------------------------------------------------------------------

describe('deployment files', () => {
  let cli: CliHelp;
  beforeAll(() => { cli = loadCliHelp(); }, 60_000);

  it('the CLI help lists the daemon and its flags (what the checks below compare against)', () => {
    expect([...cli.commands]).toEqual(expect.arrayContaining(['daemon', 'seed', 'fetch', 'keygen']));
    const daemon = cli.command.get('daemon')!;
    for (const flag of ['--data-dir', '--listen', '--bootstrap', '--no-mdns', '--no-default-bootstrap', '--dht-protocol',
      '--api', '--json', '--max-connections', '--max-upload-rate', '--max-download-rate', '--allow-folder']) {
      expect(daemon.options.has(flag), `daemon --help lists ${flag}`).toBe(true);
    }
    expect(pathFlags(daemon)).toEqual(expect.arrayContaining(['--data-dir', '--allow-folder']));
  });

  it('docker-compose.yml: commands, flags, paths, health check, restart policy, demo profile', () => {
    const { compose, text } = loadCompose();
    const problems: string[] = [];
    const setup = setupDirs(text);
    const epOptions = entrypointOptions();
    const dockerfile = parseDockerfile(readFileSync(repo('Dockerfile'), 'utf8'));
    const image = dockerfile[dockerfile.length - 1];
    const declaredVolumes = new Set(Object.keys(compose.volumes ?? {}));

    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['p2pweights', ...DEMO]));
    for (const [name, svc] of Object.entries(compose.services)) {
      const where = `services.${name}`;
      const demo = (svc.profiles ?? []).includes('demo');

      // Built from this repo's Dockerfile.
      const build = typeof svc.build === 'string' ? { context: svc.build } : svc.build;
      if (build == null) problems.push(`${where}: not built from the Dockerfile`);
      else {
        const dockerfilePath = path.join(ROOT, build.context ?? '.', build.dockerfile ?? 'Dockerfile');
        if (!existsSync(dockerfilePath)) problems.push(`${where}: ${dockerfilePath} does not exist`);
      }

      // The p2pweights command line, and the demo entrypoint's own options.
      const argv = serviceArgv(svc);
      problems.push(...checkCommandLine(`${where}.command`, argv.p2pweights, cli));
      if (argv.entrypoint.length > 0) {
        const [prog, script] = argv.entrypoint;
        if (prog !== 'node' || script == null) problems.push(`${where}.entrypoint: expected [node, <script>], got ${JSON.stringify(argv.entrypoint)}`);
        else {
          const src = imageSource(image, script);
          if (src?.repo == null || !existsSync(repo(src.repo))) problems.push(`${where}.entrypoint: ${script} is not a repo file the Dockerfile copies into the image`);
          else if (src.repo !== DEMO_ENTRYPOINT) problems.push(`${where}.entrypoint: unexpected script ${src.repo}`);
        }
        for (let i = 0; i < argv.own.length; i += 2) {
          if (!epOptions.has(argv.own[i])) problems.push(`${where}.command: ${DEMO_ENTRYPOINT} has no option ${argv.own[i]}`);
          if (argv.own[i + 1] == null || argv.own[i + 1].startsWith('--')) problems.push(`${where}.command: ${argv.own[i]} needs a value`);
        }
        if (argv.p2pweights[0] !== 'daemon') problems.push(`${where}.command: the demo entrypoint runs only "-- daemon …"`);
      }

      // Mounts: host paths exist in the repo or are made by the documented setup; named volumes are declared.
      const mounts = (svc.volumes ?? []).map((spec) => ({ spec, ...parseVolume(spec) }));
      for (const m of mounts) {
        if (m.volume != null) {
          if (!declaredVolumes.has(m.volume)) problems.push(`${where}.volumes: named volume "${m.volume}" is not declared`);
          continue;
        }
        problems.push(...interpolate(m.spec).problems.map((p) => `${where}.volumes: ${p}`));
        const rel = path.normalize(m.host!);
        if (path.isAbsolute(rel) || rel.startsWith('..')) { problems.push(`${where}.volumes: ${m.spec} mounts a path outside the repo`); continue; }
        if (existsSync(repo(rel))) {
          if (!statSync(repo(rel)).isDirectory()) problems.push(`${where}.volumes: ${rel} is not a folder`);
        } else if (!setup.includes(rel)) {
          problems.push(`${where}.volumes: ${rel} is neither in the repo nor created by the setup comment (mkdir -p ${setup.join(' ')})`);
        }
      }

      // Every path the command names lies on one of the service's mounts (or in the image).
      const paths = [
        ...flagValues(argv.p2pweights, pathFlags(cli.command.get(argv.p2pweights[0] ?? ''))),
        ...flagValues(argv.own, [...epOptions].filter(([, o]) => /^(FILE|FOLDER)$/.test(o.placeholder ?? '')).map(([f]) => f)),
      ];
      for (const { flag, value } of paths) {
        if (!mounts.some((m) => isUnder(value, m.target)) && !imageDirs(image).includes(value)) {
          problems.push(`${where}.command: ${flag} ${value} is on no volume of this service and not a folder of the image`);
        }
      }
      if (demo) {
        // The seeded folder must be a mounted folder of the repo with something in it.
        for (const { value } of flagValues(argv.own, ['--seed'])) {
          const m = mounts.find((x) => x.target === value);
          if (m?.host == null) problems.push(`${where}: --seed ${value} is not a mounted folder`);
          else if (!existsSync(repo(m.host)) || readdirCount(repo(m.host)) === 0) problems.push(`${where}: ${m.host} is missing or empty`);
        }
        continue;
      }

      // The always-on service.
      if (svc.restart !== 'unless-stopped') problems.push(`${where}: restart is ${svc.restart}, expected unless-stopped`);
      const nofile = svc.ulimits?.nofile;
      const soft = typeof nofile === 'number' ? nofile : nofile?.soft;
      if (soft == null || soft < 4096) problems.push(`${where}: ulimits.nofile missing or below 4096`);
      if (!mounts.some((m) => m.target === '/data' && m.host != null)) problems.push(`${where}: /data is not a host folder`);
      if (!mounts.some((m) => m.target === '/models' && m.readOnly)) problems.push(`${where}: /models is not mounted read-only`);
      const api = flagValues(argv.p2pweights, ['--api'])[0]?.value ?? '127.0.0.1:7171';
      const apiPort = api.split(':').pop()!;
      // Ports may be set from the environment (${VAR:-default}): check the defaults, and that
      // the swarm port is published under the same number it listens on (the one it announces).
      const swarmPort = /\/tcp\/(\d+)/.exec(interpolate(flagValues(argv.p2pweights, ['--listen'])[0]?.value ?? '').value)?.[1];
      const portSpecs = (svc.ports ?? []).map((p) => interpolate(String(p)));
      problems.push(...portSpecs.flatMap((p) => p.problems.map((x) => `${where}.ports: ${x}`)));
      const published = portSpecs.map((p) => p.value.split(':').pop());
      const swarmHost = portSpecs.map((p) => p.value.split(':')).find((parts) => parts.at(-1) === swarmPort)?.at(-2);
      if (swarmPort != null && swarmHost !== swarmPort) problems.push(`${where}: swarm port ${swarmPort} is published as host port ${swarmHost}`);
      if (swarmPort == null || swarmPort === '0') problems.push(`${where}: --listen has no fixed TCP port`);
      else if (!published.includes(swarmPort)) problems.push(`${where}: swarm port ${swarmPort} is not published`);
      if (!published.includes(apiPort)) problems.push(`${where}: API port ${apiPort} is not published`);
      const test = asArray(svc.healthcheck?.test).join(' ');
      if (!test.includes(`http://127.0.0.1:${apiPort}/healthz`)) problems.push(`${where}: healthcheck does not ask http://127.0.0.1:${apiPort}/healthz`);
      if (/\bcurl\b|\bwget\b/.test(test)) problems.push(`${where}: healthcheck uses a tool the slim image lacks`);
    }

    // The demo profile: three nodes, the fetcher knows only the bootstrap, all on a private DHT.
    for (const name of DEMO) {
      const svc = compose.services[name];
      expect(svc?.profiles ?? [], `${name} is in the demo profile`).toContain('demo');
      const { p2pweights, own } = serviceArgv(svc);
      expect(p2pweights, `${name} stays off the public DHT`).toEqual(expect.arrayContaining(['--no-default-bootstrap', '--no-mdns', '--no-upnp', '--dht-protocol']));
      expect(flagValues(p2pweights, ['--dht-protocol'])[0]?.value).not.toBe('/ipfs/kad/1.0.0');
      expect(flagValues(p2pweights, ['--bootstrap']), `${name} gets its bootstrap from the entrypoint, not a fixed peer id`).toEqual([]);
      if (name !== 'bootstrap') expect(own).toContain('--bootstrap-from');
      expect(svc.healthcheck?.test, `${name} has a health check (depends_on waits for it)`).toBeDefined();
    }
    expect(compose.services.p2pweights.profiles ?? []).toEqual([]);
    expect(serviceArgv(compose.services.fetcher).own).toContain('--fetch-from');
    expect(serviceArgv(compose.services.seeder).own).toContain('--seed');
    expect(problems).toEqual([]);
  });

  it('Dockerfile: non-root node 24 image, CMD flags exist, health check, ports, build context', () => {
    const globalArgs = new Map<string, string>();
    const stages = parseDockerfile(readFileSync(repo('Dockerfile'), 'utf8'), globalArgs);
    const image = stages[stages.length - 1];
    const ops = (op: string): Instruction[] => image.instructions.filter((i) => i.op === op);
    const problems: string[] = [];

    expect(image.from).toBe('node:24-bookworm-slim');
    expect(ops('USER').at(-1)?.args).toBe('p2pweights');
    expect(ops('RUN').some((r) => /useradd\b.*\bp2pweights\b/.test(r.args))).toBe(true);

    const entrypoint = jsonForm(ops('ENTRYPOINT').at(-1)?.args ?? '') ?? [];
    expect(entrypoint[0]).toBe('node');
    const pkg = JSON.parse(readFileSync(repo('package.json'), 'utf8')) as { bin: Record<string, string> };
    const src = imageSource(image, entrypoint[1] ?? '');
    expect(src?.stage, 'the CLI comes from the build stage').toBeDefined();
    // That stage is an alias, `FROM ${APP_SOURCE} AS app`: the build stage by default, or the
    // prebuilt one (the network-free path); both must fill the same /app.
    const alias = stages.find((s) => s.name === src?.stage)!;
    expect(alias, `stage ${src?.stage}`).toBeDefined();
    expect(alias.instructions, 'the alias stage only picks a source').toEqual([]);
    const sourceArg = /^\$\{?(\w+)\}?$/.exec(alias.from)?.[1];
    expect(sourceArg, `FROM ${alias.from}: a build argument`).toBeDefined();
    expect(globalArgs.get(sourceArg!), `${sourceArg} defaults to the stage that compiles with npm ci`).toBe('build');
    const build = stages.find((s) => s.name === globalArgs.get(sourceArg!))!;
    expect(build, 'stage build').toBeDefined();
    const prebuilt = stages.find((s) => s.name === 'prebuilt');
    expect(prebuilt, 'a prebuilt stage for builds without network').toBeDefined();
    expect(prebuilt!.instructions.filter((i) => i.op === 'RUN'), 'the prebuilt stage runs nothing').toEqual([]);
    expect(copies(prebuilt!).flatMap((c) => c.sources)).toEqual(expect.arrayContaining(['package.json', 'prebuil[t]/']));
    // The build stage compiles src/ into dist/ (tsconfig outDir) in its WORKDIR: the bin is there.
    const tsconfig = JSON.parse(readFileSync(repo('tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string } };
    const buildWorkdir = build.instructions.filter((i) => i.op === 'WORKDIR').at(-1)?.args ?? '/';
    expect(src!.stagePath).toBe(path.posix.join(buildWorkdir, pkg.bin.p2pweights));
    expect(pkg.bin.p2pweights.startsWith(`${tsconfig.compilerOptions.outDir}/`)).toBe(true);
    // Whatever `npm run build` runs from the repo (scripts/copy-assets.mjs …) is copied into the build stage.
    const pkgScripts = JSON.parse(readFileSync(repo('package.json'), 'utf8')) as { scripts: Record<string, string> };
    for (const file of pkgScripts.scripts.build.match(/\bscripts\/[\w./-]+/g) ?? []) {
      expect(imageSource(build, path.posix.join(buildWorkdir, file))?.repo, `the build stage has ${file}`).toBe(file);
    }
    const buildRuns = build.instructions.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    expect(buildRuns).toMatch(/npm ci\b/);
    expect(buildRuns).toMatch(/\btsc\b.*-p tsconfig\.json|npm run build/);
    expect(buildRuns).toMatch(/npm prune --omit=dev/);

    const cmd = jsonForm(ops('CMD').at(-1)?.args ?? '');
    expect(cmd, 'CMD in JSON form').toBeDefined();
    problems.push(...checkCommandLine('Dockerfile CMD', cmd!, cli));
    expect(cmd!.slice(0, 3)).toEqual(['daemon', '--data-dir', '/data']);
    // Paths in CMD exist in the image: made by a RUN mkdir or under a VOLUME.
    for (const { flag, value } of flagValues(cmd!, pathFlags(cli.command.get('daemon')))) {
      if (!imageDirs(image).some((d) => isUnder(value, d))) problems.push(`Dockerfile CMD: ${flag} ${value} is not in the image`);
    }
    expect(ops('VOLUME').flatMap((v) => jsonForm(v.args) ?? [])).toContain('/data');

    const api = flagValues(cmd!, ['--api'])[0]?.value ?? '';
    const apiPort = api.split(':').pop()!;
    expect(api, 'API reachable through docker port forwarding').toMatch(/^0\.0\.0\.0:\d+$/);
    const swarmPort = /^\/ip4\/0\.0\.0\.0\/tcp\/(\d+)$/.exec(flagValues(cmd!, ['--listen'])[0]?.value ?? '')?.[1];
    expect(swarmPort, 'a fixed swarm port on all interfaces').toBeDefined();
    const exposed = ops('EXPOSE').flatMap((e) => e.args.split(/\s+/)).map((p) => p.replace(/\/tcp$/, ''));
    expect(exposed).toEqual(expect.arrayContaining([swarmPort!, apiPort]));

    const health = ops('HEALTHCHECK').at(-1)?.args ?? '';
    expect(health).toMatch(/\bCMD\b/);
    expect(health).toContain(`http://127.0.0.1:${apiPort}/healthz`);
    expect(health).toMatch(/"node"|\bnode\b/);
    expect(health).not.toMatch(/\bcurl\b|\bwget\b/);

    // Everything copied from the build context exists and survives .dockerignore; the bulky and
    // private stays out.
    const ignore = dockerignorePatterns();
    for (const stage of stages) {
      for (const c of copies(stage).filter((x) => x.from == null)) {
        for (const s of c.sources) {
          // A glob may match nothing by design (prebuil[t]/ is made only for the network-free path).
          const glob = /[[*?]/.test(s);
          const literal = s.replace(/\[(.)\]/g, '$1').replace(/\/$/, '');
          if (!glob && !existsSync(repo(s))) problems.push(`COPY ${s}: not in the repo`);
          if (dockerIgnored(ignore, glob ? `${literal}/package.json` : literal)) problems.push(`COPY ${s}: excluded by .dockerignore`);
        }
      }
    }
    expect(dockerIgnored(ignore, 'src/cli/main.ts')).toBe(false);
    // The network-free path's install goes in whole, nested node_modules included.
    for (const inside of ['prebuilt/dist/cli/main.js', 'prebuilt/node_modules/libp2p/package.json', 'prebuilt/node_modules/a/node_modules/b/index.js']) {
      expect(dockerIgnored(ignore, inside), `.dockerignore lets ${inside} in`).toBe(false);
    }
    for (const out of ['node_modules', 'node_modules/x/index.js', 'dist/cli/main.js', '.git/HEAD', 'data/peer.key',
      'models/big/model.safetensors', 'demo/model/config.json', 'tests/integration/deploy.test.ts', 'tmp/x', 'src/node_modules/y']) {
      expect(dockerIgnored(ignore, out), `.dockerignore keeps ${out} out of the build context`).toBe(true);
    }
    expect(problems).toEqual([]);
  });

  it('scripts/p2pweights.service: hardening keys, ExecStart flags, systemd-analyze verify if present', () => {
    const file = repo('scripts', 'p2pweights.service');
    const unit = parseUnit(readFileSync(file, 'utf8'));
    const one = (key: string): string | undefined => unit.get(`Service.${key}`)?.at(-1);
    const words = (key: string): string[] => (unit.get(`Service.${key}`) ?? []).flatMap((v) => v.split(/\s+/)).filter(Boolean);

    const expected: Record<string, string> = {
      User: 'p2pweights', Group: 'p2pweights', DynamicUser: 'no', StateDirectory: 'p2pweights',
      ProtectSystem: 'strict', ProtectHome: 'read-only', PrivateTmp: 'yes', NoNewPrivileges: 'yes',
      ProtectKernelTunables: 'yes', ProtectKernelModules: 'yes', ProtectKernelLogs: 'yes', Restart: 'on-failure',
    };
    for (const [key, value] of Object.entries(expected)) expect(one(key), key).toBe(value);
    expect(words('ReadWritePaths')).toContain('/var/lib/p2pweights');
    const readOnly = words('ReadOnlyPaths').map((p) => p.replace(/^-/, ''));
    expect(readOnly.length, 'ReadOnlyPaths for the models folder').toBeGreaterThan(0);
    expect(new Set(words('RestrictAddressFamilies'))).toEqual(new Set(['AF_INET', 'AF_INET6', 'AF_UNIX', 'AF_NETLINK']));
    expect(Number(one('LimitNOFILE'))).toBeGreaterThanOrEqual(4096);
    expect(one('MemoryDenyWriteExecute') ?? 'no', "V8's JIT needs W+X memory").not.toBe('yes');
    expect(unit.get('Install.WantedBy')).toEqual(['multi-user.target']);

    const exec = (one('ExecStart') ?? '').split(/\s+/);
    expect(exec.slice(0, 2)).toEqual(['/usr/bin/env', 'node']);
    expect(exec[2]).toMatch(/\/dist\/cli\/main\.js$/);
    const argv = exec.slice(3);
    expect(checkCommandLine('ExecStart', argv, cli)).toEqual([]);
    expect(argv[0]).toBe('daemon');
    expect(flagValues(argv, ['--data-dir'])[0]?.value).toBe('/var/lib/p2pweights');
    // Every folder the daemon may seed from is one the sandbox lets it see.
    for (const { value } of flagValues(argv, ['--allow-folder'])) {
      expect([...readOnly, ...words('ReadWritePaths')].some((p) => isUnder(value, p)), `--allow-folder ${value} is readable in the sandbox`).toBe(true);
    }
    const api = flagValues(argv, ['--api'])[0]?.value ?? '127.0.0.1:7171';
    expect(api, 'API on loopback').toMatch(/^127\./);

    const analyze = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: 30_000 });
    if (analyze.error == null) {
      // It exits 0 even for unknown keys; what it says about this file is what matters.
      const own = `${analyze.stdout}\n${analyze.stderr}`.split('\n').filter((l) => l.includes('p2pweights.service'));
      expect(own, 'systemd-analyze verify').toEqual([]);
    }
  });
});

function readdirCount(dir: string): number {
  try { return readdirSync(dir).length; } catch { return 0; }
}

// ---- the demo profile, for real -----------------------------------------------------------

interface ReadyEvent extends CliEvent { peerId: string; addrs: string[]; api: string; models: number }
interface ModelInfo { cid: string; name: string; kind: string; state: string; path: string; bytes?: number; verifiedBytes: number; error?: string }

const DEMO_FILES: FileSpec[] = [
  { path: 'config.json', size: 1_500 },
  { path: 'model.safetensors', size: 9 * MiB + 4_321 },
  { path: 'tokenizer/tokenizer.json', size: 300_000 },
];

/** Processes started in their own process group, so the daemon under each entrypoint goes too. */
const groups = new Set<number>();
process.once('exit', () => { for (const pid of groups) { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } } });

/** GET with the API token of the daemon whose data dir is `dataDir` (where the CLI reads it). */
async function getJson<T>(url: string, dataDir: string): Promise<T> {
  const token = (await fs.readFile(path.join(dataDir, 'api-token'), 'utf8')).trim();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${await res.text()}`);
  return await res.json() as T;
}

describe('compose demo profile as processes on 127.0.0.1', () => {
  const h = new Harness();
  const procs: CliProcess[] = [];

  afterEach(async () => {
    for (const p of procs) if (p.pid > 0) { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } }
    await Promise.allSettled(procs.map((p) => p.waitForExit(10_000)));
    for (const p of procs.splice(0)) groups.delete(p.pid);
    await h.cleanup();
  }, 30_000);

  it('bootstrap, seeder and fetcher: the fetcher, told only the bootstrap, ends up with the model', { timeout: 180_000 }, async () => {
    const { compose } = loadCompose();
    const tmp = await h.tempDir('compose-demo');
    // The container paths the demo uses, and where they live in this test.
    const roots: Record<string, string> = { '/data': path.join(tmp, 'data'), '/models': path.join(tmp, 'models') };
    for (const dir of Object.values(roots)) await fs.mkdir(dir, { recursive: true });
    const translate = (arg: string): string => {
      if (arg === '/ip4/0.0.0.0/tcp/4001') return '/ip4/127.0.0.1/tcp/0';
      if (/^[\d.]+:\d+$/.test(arg)) return '127.0.0.1:0'; // --api: any free port
      for (const [root, local] of Object.entries(roots)) if (isUnder(arg, root)) return local + arg.slice(root.length);
      if (arg.startsWith('/') && !arg.startsWith('/p2pweights') && !arg.startsWith('/ip')) throw new Error(`no local place for container path ${arg}`);
      return arg;
    };

    // The seeder's model folder: generated where its mount target maps to.
    let modelDir: string | undefined;
    for (const name of DEMO) {
      for (const m of (compose.services[name].volumes ?? []).map(parseVolume)) {
        expect(Object.keys(roots).some((r) => isUnder(m.target, r)), `${name} mounts ${m.target} under /data or /models`).toBe(true);
        if (m.host != null) {
          modelDir = translate(m.target);
          await makeModelFolder(modelDir, DEMO_FILES, 'compose-demo');
        }
      }
    }
    expect(modelDir, 'the demo mounts a model folder').toBeDefined();

    const started = new Map<string, CliProcess>();
    for (const name of DEMO) {
      const svc = compose.services[name];
      const entrypoint = asArray(svc.entrypoint);
      expect(entrypoint).toEqual(['node', `/app/${DEMO_ENTRYPOINT}`]);
      const args = asArray(svc.command).map(translate);
      const child = spawn(NODE, [repo(DEMO_ENTRYPOINT), ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true, // own process group: killing it takes the daemon along
        env: { ...process.env, NO_COLOR: '1', P2PWEIGHTS_CLI: CLI },
      });
      const proc = new CliProcess(`demo-${name}`, child);
      if (proc.pid > 0) groups.add(proc.pid);
      procs.push(proc);
      started.set(name, proc);
    }
    const ready = new Map<string, ReadyEvent>();
    for (const [name, proc] of started) ready.set(name, await proc.waitFor<ReadyEvent>('ready', 60_000));

    // The fetcher was given the bootstrap and nothing else.
    const bootstrapId = ready.get('bootstrap')!.peerId;
    const seederId = ready.get('seeder')!.peerId;
    expect(new Set([bootstrapId, seederId, ready.get('fetcher')!.peerId]).size).toBe(3);

    // The CID the seeder seeded (through its API), as the fetcher got it from the shared volume.
    const cidFile = translate(flagValues(asArray(compose.services.seeder.command), ['--write-cid'])[0].value);
    const cid = await waitFor(async () => (await fs.readFile(cidFile, 'utf8').catch(() => '')).trim() || undefined, 60_000,
      () => `no CID in ${cidFile}\n${started.get('seeder')!.tail()}`);
    const dataDirOf = (name: string): string => translate(flagValues(asArray(compose.services[name].command), ['--data-dir'])[0].value);
    const seeded = (await getJson<ModelInfo[]>(`${ready.get('seeder')!.api}/api/v1/models`, dataDirOf('seeder'))).find((m) => m.cid === cid);
    expect(seeded, 'the seeder lists the model').toMatchObject({ kind: 'seed', state: 'seeding', bytes: totalSize(DEMO_FILES) });

    let last: ModelInfo | undefined;
    const fetched = await waitFor(async () => {
      last = (await getJson<ModelInfo[]>(`${ready.get('fetcher')!.api}/api/v1/models`, dataDirOf('fetcher'))).find((m) => m.cid === cid);
      return last?.state === 'seeding' ? last : undefined;
    }, 120_000, () => `fetcher never listed ${cid} as seeding; last: ${JSON.stringify(last)}\n${started.get('fetcher')!.tail()}`);
    expect(fetched).toMatchObject({ kind: 'fetch', bytes: totalSize(DEMO_FILES), verifiedBytes: totalSize(DEMO_FILES) });
    expect(isUnder(fetched.path, roots['/data']), `fetched into the fetcher's data volume: ${fetched.path}`).toBe(true);
    expect(await compareFolders(modelDir!, fetched.path)).toEqual([]);

    // docker stop sends SIGTERM to the entrypoint; it passes it on and the daemon exits 0.
    for (const proc of started.values()) proc.signal('SIGTERM');
    for (const proc of started.values()) expect(fmtExit(await proc.waitForExit(30_000)), proc.tail()).toBe('code 0');
  });
});

/** Polls `probe` every 250 ms until it returns a value; bounded. */
async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number, describeFailure: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`after ${timeoutMs} ms: ${describeFailure()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
