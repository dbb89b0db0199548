/**
 * The command line: commander wiring, one small file per command under commands/, and the one
 * place that turns errors into a one-line message and an exit code (CLI.md). Nothing below the
 * CLI prints.
 */
import { Command, CommanderError, Help, type Option } from 'commander';
import { ImgpackError } from '../errors.js';
import { processIo, type Io } from './io.js';
import type { CommandContext } from './context.js';
import { VERSION } from '../version.js';
import { collect } from './context.js';
import { configureRegistries } from '../formats/registry/settings.js';
import { setSpoolBase } from '../io/temp.js';
import { cancellation, runExitCleanups } from '../io/cancel.js';
import { reportInterrupted, stopOnSignals } from './signals.js';

interface CommandModule {
  register(program: Command, ctx: CommandContext): void;
}

/**
 * One small file per command, each imported only when the command line names it: start-up time
 * is paid on every call, and most commands need a fraction of imgpack. Help and unknown commands
 * load them all (for the list and the suggestions).
 */
const COMMANDS: { names: string[]; load: () => Promise<CommandModule> }[] = [
  { names: ['inspect'], load: () => import('./commands/inspect.js') },
  { names: ['verify'], load: () => import('./commands/verify.js') },
  { names: ['convert'], load: () => import('./commands/convert.js') },
  { names: ['merge'], load: () => import('./commands/merge.js') },
  { names: ['split'], load: () => import('./commands/split.js') },
  { names: ['tag'], load: () => import('./commands/tag.js') },
  { names: ['untag'], load: () => import('./commands/untag.js') },
  { names: ['retag'], load: () => import('./commands/retag.js') },
  { names: ['load'], load: () => import('./commands/load.js') },
  { names: ['save'], load: () => import('./commands/save.js') },
  { names: ['images'], load: () => import('./commands/images.js') },
  { names: ['rmi'], load: () => import('./commands/rmi.js') },
  { names: ['prune'], load: () => import('./commands/prune.js') },
  { names: ['chunk', 'join'], load: () => import('./commands/chunk.js') },
  { names: ['commit'], load: () => import('./commands/commit.js') },
  { names: ['export'], load: () => import('./commands/export.js') },
  { names: ['diff'], load: () => import('./commands/diff.js') },
  { names: ['pull'], load: () => import('./commands/pull.js') },
  { names: ['push'], load: () => import('./commands/push.js') },
  { names: ['copy'], load: () => import('./commands/copy.js') },
  { names: ['login', 'logout'], load: () => import('./commands/login.js') },
  { names: ['serve'], load: () => import('./commands/serve.js') },
  { names: ['inventory'], load: () => import('./commands/inventory.js') },
  { names: ['apply'], load: () => import('./commands/apply.js') },
  { names: ['repair'], load: () => import('./commands/repair.js') },
  { names: ['key'], load: () => import('./commands/key.js') },
  { names: ['self-copy'], load: () => import('./commands/self-copy.js') },
  { names: ['find-images'], load: () => import('./commands/find-images.js') },
];

/** Global options that take a value (the word after them is not the command). */
const GLOBAL_WITH_VALUE = new Set(['--store', '--ca-file', '--tmpdir']);

/** The command files the arguments need: the one they name, or all of them. */
export async function commandsFor(args: string[]): Promise<CommandModule[]> {
  let word: string | undefined;
  for (let i = 0; i < args.length && word === undefined; i++) {
    if (GLOBAL_WITH_VALUE.has(args[i])) i++;
    else if (!args[i].startsWith('-')) word = args[i];
  }
  const named = COMMANDS.find((c) => word !== undefined && c.names.includes(word));
  if (named) return [await named.load()];
  if (word === undefined && args.some((a) => a === '-v' || a === '--version')) return [];
  return Promise.all(COMMANDS.map((c) => c.load()));
}

/** Help without "(default: [])": a repeatable option starts empty, which says nothing. */
const HELP = {
  optionDescription(this: Help, option: Option): string {
    const emptyList = Array.isArray(option.defaultValue) && option.defaultValue.length === 0;
    return Help.prototype.optionDescription.call(this, emptyList ? Object.assign(Object.create(option) as Option, { defaultValue: undefined }) : option);
  },
};

export function buildProgram(ctx: CommandContext, commands: CommandModule[]): Command {
  const program = new Command('imgpack')
    .description('Read, verify, convert, merge and split docker save archives and OCI image layouts, without a daemon.')
    .version(VERSION, '-v, --version')
    .option('-q, --quiet', 'print only errors')
    .option('--store <dir>', 'the local image store (default: $IMGPACK_STORE, else $XDG_DATA_HOME/imgpack/store, else ~/.local/share/imgpack/store)')
    .option('--tmpdir <dir>', 'where spooled temporaries go: standard input, decompressed input (default: $IMGPACK_TMPDIR, else $TMPDIR)')
    .option('--ca-file <file>', 'registries: trust this CA too (repeatable; also /etc/docker/certs.d/HOST:PORT/*.crt)', collect, [])
    .option('--insecure', 'registries: do not verify TLS certificates, and allow plain HTTP')
    .option('--plain-http', 'registries: speak plain HTTP (loopback registries may anyway, as with docker)')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.out(s.replace(/\n$/, '')),
      writeErr: (s) => ctx.io.err(s.replace(/\n$/, '')),
      outputError: (s, write) => write(`imgpack: ${s.replace(/^error: /, '').trim()}`),
    })
    .addHelpText('after', `
Exit status: 0 success, 1 the archive or images are at fault, 2 usage or environment.

Examples:
  imgpack inspect images.tar
  imgpack verify images.tar && docker load -i images.tar`);
  program.hook('preAction', async (cmd) => {
    ctx.io.quiet = !!cmd.opts().quiet;
    const { setStorePath } = await import('../formats/store/store.js');
    setStorePath(cmd.opts().store);
    const o = cmd.opts();
    configureRegistries({ caFiles: o.caFile, insecure: !!o.insecure, plainHttp: !!o.plainHttp });
    setSpoolBase(o.tmpdir);
  });
  for (const c of commands) c.register(program, ctx);
  program.configureHelp(HELP);
  for (const sub of program.commands) {
    sub.exitOverride().configureOutput(program.configureOutput()).configureHelp(HELP);
    for (const nested of sub.commands) nested.exitOverride().configureOutput(program.configureOutput()).configureHelp(HELP);
  }
  return program;
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let exitCode = 0;
  const ctx: CommandContext = { io, setExitCode: (c) => { exitCode = c; } };
  try {
    const program = buildProgram(ctx, await commandsFor(argv.slice(2)));
    await program.parseAsync(argv);
    return exitCode;
  } catch (e) {
    return reportError(e, io);
  }
}

/** The command as a process: signals stop it (signals.ts), and its exit code is the process's. */
export async function run(argv: string[]): Promise<void> {
  stopOnSignals(processIo);
  const code = await main(argv, processIo);
  if (cancellation()) {
    // Stopped: do not wait for what the work left pending (a read of standard input, a socket).
    runExitCleanups();
    process.exit(code);
  }
  process.exitCode = code;
}

export function reportError(e: unknown, io: Io): number {
  // Stopped by a signal: whatever the work threw while it unwound (an aborted stream, a closed
  // pipe) is a consequence; the signal is what happened.
  const stop = cancellation();
  if (stop) {
    reportInterrupted(io, stop.line);
    if (process.env.IMGPACK_DEBUG && e !== stop) io.err((e as Error)?.stack ?? String(e));
    return stop.exitCode;
  }
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    return 2; // commander already printed its one line
  }
  if (e instanceof ImgpackError) {
    io.err(`imgpack: ${e.line}`);
    if (process.env.IMGPACK_DEBUG) io.err(e.stack ?? '');
    return e.exitCode;
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'EPIPE') return 0; // the reader of our output went away (| head)
  io.err(`imgpack: unexpected error: ${err?.message?.split('\n')[0] ?? String(e)}`);
  if (process.env.IMGPACK_DEBUG) io.err(err?.stack ?? '');
  return 1;
}
