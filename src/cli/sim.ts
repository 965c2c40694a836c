// Placeholder until the placement issue lands `cairn sim`.
import type { Command } from 'commander';
import { CairnError } from '../../core/errors.js';
export function registerSim(program: Command): void {
  program.command('sim').description('placement simulator (not built yet)').action(() => {
    throw new CairnError('NOT_IMPLEMENTED', 'cairn sim is not built yet');
  });
}
