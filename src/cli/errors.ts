/** CLI errors. */
import { CairnError } from '../../core/errors.js';

/** A CLI usage error: printed as one line on stderr, exit code 2. */
export class UsageError extends CairnError {
  constructor(message: string) { super('USAGE', message); }
}
