/**
 * The command line: commander wiring, one small file per command under commands/, and the one
 * place that turns errors into a one-line message and an exit code (CLI.md). Nothing below the
 * CLI prints.
 */
import { Command, CommanderError } from 'commander';
import { ImgpackError } from '../errors.js';
import { processIo, type Io } from './io.js';
import type { CommandContext } from './context.js';
import { VERSION } from '../version.js';
import * as inspect from './commands/inspect.js';
import * as verify from './commands/verify.js';
import * as convert from './commands/convert.js';
import * as merge from './commands/merge.js';
import * as split from './commands/split.js';
import * as tag from './commands/tag.js';
import * as untag from './commands/untag.js';
import * as retag from './commands/retag.js';
import * as load from './commands/load.js';
import * as images from './commands/images.js';
import * as rmi from './commands/rmi.js';
import * as prune from './commands/prune.js';
import * as save from './commands/save.js';
import * as chunk from './commands/chunk.js';
import * as exportCmd from './commands/export.js';
import * as diff from './commands/diff.js';
import * as commit from './commands/commit.js';
import * as pull from './commands/pull.js';
import * as push from './commands/push.js';
import * as login from './commands/login.js';
import * as copyCmd from './commands/copy.js';
import * as serve from './commands/serve.js';
import * as inventory from './commands/inventory.js';
import * as apply from './commands/apply.js';
import * as repair from './commands/repair.js';
import * as key from './commands/key.js';
import { setStorePath } from '../formats/store/store.js';
import { configureRegistries } from '../formats/registry/transport.js';
import { collect } from './context.js';

const COMMANDS = [inspect, verify, convert, merge, split, tag, untag, retag, load, save, images, rmi, prune, chunk, commit, exportCmd, diff, pull, push, copyCmd, login, serve, inventory, apply, repair, key];

export function buildProgram(ctx: CommandContext): Command {
  const program = new Command('imgpack')
    .description('Read, verify, convert, merge and split docker save archives and OCI image layouts, without a daemon.')
    .version(VERSION, '-v, --version')
    .option('-q, --quiet', 'print only errors')
    .option('--store <dir>', 'the local image store (default: $IMGPACK_STORE, else $XDG_DATA_HOME/imgpack/store, else ~/.local/share/imgpack/store)')
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
  program.hook('preAction', (cmd) => {
    ctx.io.quiet = !!cmd.opts().quiet;
    setStorePath(cmd.opts().store);
    const o = cmd.opts();
    configureRegistries({ caFiles: o.caFile, insecure: !!o.insecure, plainHttp: !!o.plainHttp });
  });
  for (const c of COMMANDS) c.register(program, ctx);
  for (const sub of program.commands) {
    sub.exitOverride().configureOutput(program.configureOutput());
    for (const nested of sub.commands) nested.exitOverride().configureOutput(program.configureOutput());
  }
  return program;
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let exitCode = 0;
  const ctx: CommandContext = { io, setExitCode: (c) => { exitCode = c; } };
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (e) {
    return reportError(e, io);
  }
}

export function reportError(e: unknown, io: Io): number {
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
