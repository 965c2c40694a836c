/**
 * The `cairn` command line. Each sub-command lives in its own module and registers itself here.
 * Bad arguments print one clear line on stderr and exit with code 2; Cairn errors exit with 1.
 */
import { Command, CommanderError } from 'commander';
import { registerSim } from './sim.js';

import { UsageError, reportError } from './errors.js';
import { guardProcess } from './process-guard.js';
import { cairnVersion } from './version.js';
import { registerPoolCommands } from './pool-commands.js';
import { registerDataCommands } from './data-commands.js';
import { registerDemo } from './demo.js';
import { registerBench } from './bench.js';
import { registerEngine } from './engine-command.js';
import { registerFs } from './fs-command.js';
import { registerMount } from './mount-command.js';
import { registerS3 } from './s3-command.js';

export { UsageError };

/** Where commander writes: help on stdout, errors as one line `cairn: ...` on stderr. */
const OUTPUT = {
  writeErr: (s: string) => process.stderr.write(s),
  writeOut: (s: string) => process.stdout.write(s),
  // "error: unknown option '--x'\n(Did you mean --y?)" becomes "cairn: unknown option '--x' (Did you mean --y?)"
  outputError: (s: string, write: (s: string) => void) => write(`cairn: ${s.replace(/^error: /, '').trimEnd().replace(/\s*\n\s*/g, ' ')}\n`),
};

/** Build the command tree (exported for tests). */
export function buildProgram(): Command {
  const program = new Command('cairn')
    .description('Cairn: a DAOS-style versioned object store with erasure coding and declustered placement')
    .version(cairnVersion(), '-V, --version', 'print the version of cairn')
    .showHelpAfterError(false)
    .configureOutput(OUTPUT) // before the sub-commands are added: they copy it
    .exitOverride();
  registerPoolCommands(program);
  registerDataCommands(program);
  registerSim(program);
  registerDemo(program);
  registerBench(program);
  registerEngine(program);
  registerFs(program);
  registerMount(program);
  registerS3(program);
  rejectOptionsAsValues(program);
  return program;
}

/**
 * An option that takes a value and is followed by another option (`get c f --snapshot --pool P`)
 * would take that option as its value (commander does, as getopt does): the next option then goes
 * unseen and its value becomes an operand. Every value-taking option of every command refuses a
 * value that is an option of the same command instead: one usage line naming the option.
 */
function rejectOptionsAsValues(cmd: Command): void {
  const flags = new Set(['-h', '--help']);
  for (const opt of cmd.options) for (const f of [opt.short, opt.long]) if (f) flags.add(f);
  for (const opt of cmd.options) {
    if (!opt.required) continue;
    const inner = opt.parseArg;
    opt.argParser((v: string, previous: unknown) => {
      if (flags.has(v.split('=')[0]!)) throw new UsageError(`option '${opt.flags}' argument missing (got the option ${v})`);
      if (inner) return inner(v, previous);
      if (!opt.variadic) return v;
      return Array.isArray(previous) && previous !== opt.defaultValue ? [...previous, v] : [v];
    });
  }
  for (const sub of cmd.commands) rejectOptionsAsValues(sub);
}

/** The sub-command of `cmd` named (or aliased) `name`. */
const findCommand = (cmd: Command, name: string) => cmd.commands.find((c) => c.name() === name || c.aliases().includes(name));

/**
 * `cairn [GROUP...] help [NAME...]`: the command whose help to print, or the first NAME that is no
 * command (commander would print the whole help on stderr with exit code 0, and ignore all NAMEs
 * after the first); undefined when `argv` is no help request.
 */
function helpRequest(program: Command, argv: string[]): { cmd: Command } | { unknown: string } | undefined {
  let cmd = program;
  let i = 0;
  for (; i < argv.length; i++) {
    const sub = findCommand(cmd, argv[i]!);
    if (!sub) break;
    cmd = sub;
  }
  if (argv[i] !== 'help' || cmd.commands.length === 0) return undefined;
  for (const name of argv.slice(i + 1)) {
    const sub = findCommand(cmd, name);
    if (!sub) return { unknown: name };
    cmd = sub;
  }
  return { cmd };
}

/**
 * The command group `argv` names when it names nothing more (`cairn`, `cairn pool`): its help is
 * printed on stdout with exit code 0, as `--help` does.
 */
function bareGroup(program: Command, argv: string[]): Command | undefined {
  let cmd = program;
  for (const a of argv) {
    const sub = findCommand(cmd, a);
    if (!sub) return undefined;
    cmd = sub;
  }
  return cmd.commands.length > 0 ? cmd : undefined;
}

/**
 * Run the CLI with `argv` (without node and script); resolves to the process exit code: 0, 2 for a
 * command line it cannot run, 1 for other failures, each reported as one line on stderr.
 */
export async function main(argv: string[]): Promise<number> {
  guardProcess();
  const program = buildProgram();
  try {
    const group = bareGroup(program, argv);
    if (group) { group.outputHelp(); return 0; }
    const help = helpRequest(program, argv);
    if (help && 'cmd' in help) { help.cmd.outputHelp(); return 0; }
    if (help) throw new UsageError(`unknown command '${help.unknown}'`);
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2; // commander already printed its one-line message
    }
    return reportError(err);
  }
}
