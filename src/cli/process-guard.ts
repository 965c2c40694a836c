/**
 * Process-wide guards of the `cairn` command: a reader closing our stdout (`cairn get ... | head`)
 * ends the command quietly with exit code 0, and an error nobody awaited is still reported as one
 * line (never Node's stack trace). Installed once per process by `main`.
 */
import { isBrokenPipe, reportError } from './errors.js';

let installed = false;

/** Install the guards (idempotent). */
export function guardProcess(): void {
  if (installed) return;
  installed = true;
  // Without a listener an EPIPE on stdout is thrown as an uncaught 'error' event. With one, later
  // writes are dropped, a pipeline into stdout rejects (main reports that silently) and the
  // command still closes its pool.
  process.stdout.on('error', (err) => {
    if (!isBrokenPipe(err)) process.exit(reportError(err));
  });
  process.stderr.on('error', () => { /* nowhere left to report to */ });
  const fatal = (err: unknown) => { process.exit(reportError(err)); };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
}
