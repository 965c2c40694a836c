/**
 * The `cairn` command line. Each sub-command lives in its own module and registers itself here.
 * Bad arguments print one clear line on stderr and exit with code 2; Cairn errors exit with 1.
 */
import { Command, CommanderError } from 'commander';
import { CairnError } from '../../core/errors.js';
import { registerSim } from './sim.js';

import { UsageError } from './errors.js';
import { registerPoolCommands } from './pool-commands.js';
import { registerDataCommands } from './data-commands.js';
import { registerDemo } from './demo.js';
import { registerBench } from './bench.js';
import { registerEngine } from './engine-command.js';
import { registerFs } from './fs-command.js';
import { registerMount } from './mount-command.js';
import { registerS3 } from './s3-command.js';

export { UsageError };

/** Build the command tree (exported for tests). */
export function buildProgram(): Command {
  const program = new Command('cairn')
    .description('Cairn: a DAOS-style versioned object store with erasure coding and declustered placement')
    .showHelpAfterError(false)
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
  return program;
}

/** Run the CLI with `argv` (without node and script); resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2; // commander already printed its one-line message
    }
    if (err instanceof UsageError || (err instanceof CairnError && /INVALID|USAGE|UNKNOWN/.test(err.code))) {
      process.stderr.write(`cairn: ${err.message}\n`);
      return 2;
    }
    if (err instanceof CairnError) {
      process.stderr.write(`cairn: ${err.code}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
