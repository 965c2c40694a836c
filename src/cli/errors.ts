/**
 * CLI errors and how the `cairn` command reports them: every failure is one line on stderr and an
 * exit code (2 for a command line the CLI cannot run, 1 for anything else), never a stack trace;
 * a reader that closed our stdout (`cairn get ... | head`) ends the command silently.
 */
import { CairnError, type CairnErrorCode } from '../../core/errors.js';

/** A CLI usage error: printed as one line on stderr, exit code 2. */
export class UsageError extends CairnError {
  constructor(message: string) { super('USAGE', message); }
}

/** Exit code of a command line the CLI cannot run (bad flag, bad value, missing argument). */
export const EXIT_USAGE = 2;
/** Exit code of every other failure (I/O, not found, no space, data lost, ...). */
export const EXIT_FAILURE = 1;

/** Codes that mean "the command line was wrong", reported with exit code 2. */
const USAGE_CODES: ReadonlySet<CairnErrorCode> = new Set(['USAGE', 'INVALID_ARGUMENT', 'UNKNOWN_OBJECT_CLASS', 'UNKNOWN_TARGET', 'KEY_TOO_LARGE']);

/** Registry code of a Node system error (`err.code` such as ENOENT), for one-line reports. */
const ERRNO_CODES: Record<string, CairnErrorCode> = {
  ENOENT: 'NOT_FOUND', ENOTDIR: 'NOT_FOUND', EEXIST: 'EXISTS', ENOSPC: 'NO_SPACE', EDQUOT: 'NO_SPACE', EFBIG: 'NO_SPACE',
  EROFS: 'READ_ONLY',
};

/** Whether `err` is a Node system error (it has an errno-style string `code` such as `ENOENT`). */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && /^E[A-Z0-9]+$/.test((err as NodeJS.ErrnoException).code!);
}

/** Whether `err` says the reader of a pipe went away (EPIPE, or a write after our stdout closed). */
export function isBrokenPipe(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/**
 * A file-system failure of the CLI itself (reading the input file, writing the output file) as a
 * `CairnError`: `what` names the operation ("cannot read in.bin"), the code follows the errno.
 */
export function fileError(err: unknown, what: string): CairnError {
  if (err instanceof CairnError) return err;
  const sys = isSystemError(err) ? err : undefined;
  const reason = sys ? describeSystemError(sys) : String((err as Error)?.message ?? err);
  return new CairnError(sys ? ERRNO_CODES[sys.code!] ?? 'IO_ERROR' : 'IO_ERROR', `${what}: ${reason}`, sys ? { errno: sys.code } : undefined, { cause: err });
}

/** "no such file or directory" from "ENOENT: no such file or directory, open 'x'". */
function describeSystemError(err: NodeJS.ErrnoException): string {
  const m = /^[A-Z0-9]+: ([^,]+)/.exec(err.message);
  return m ? m[1]! : err.message;
}

/** The first line of a message, without trailing space (stderr reports are one line). */
function oneLine(s: string): string {
  return (s.split('\n').find((l) => l.trim() !== '') ?? s).trim();
}

/**
 * Report `err` on stderr as one line and return the exit code: 0 (silent) for a closed stdout,
 * 2 for usage errors, 1 for everything else. `CAIRN_DEBUG=1` adds the stack for bug reports.
 */
export function reportError(err: unknown, write: (s: string) => void = (s) => { process.stderr.write(s); }): number {
  if (isBrokenPipe(err)) return 0;
  let line: string;
  let code: number;
  if (err instanceof CairnError) {
    code = USAGE_CODES.has(err.code) ? EXIT_USAGE : EXIT_FAILURE;
    line = code === EXIT_USAGE ? oneLine(err.message) : `${err.code}: ${oneLine(err.message)}`;
  } else if (isSystemError(err)) {
    code = EXIT_FAILURE;
    const path = err.path ? ` ${err.path}` : '';
    line = `${ERRNO_CODES[err.code!] ?? 'IO_ERROR'}: ${err.syscall ?? 'I/O'}${path}: ${describeSystemError(err)}`;
  } else {
    code = EXIT_FAILURE;
    line = `internal error: ${oneLine(String((err as Error)?.message ?? err))} (set CAIRN_DEBUG=1 for details)`;
  }
  write(`cairn: ${line}\n`);
  if (process.env.CAIRN_DEBUG === '1' && err instanceof Error && err.stack) write(`${err.stack}\n`);
  return code;
}
