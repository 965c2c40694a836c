/**
 * The version of the installed package, for `cairn --version`: read from the nearest ancestor
 * `package.json` named `cairn` (from `src/cli` in a checkout, `dist/src/cli` in a package).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How many directories up from this module the package root may be. */
const MAX_PACKAGE_DEPTH = 6;

let cached: string | undefined;

/** `cairn`'s version from its package.json, or `unknown` when the file cannot be found. */
export function cairnVersion(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < MAX_PACKAGE_DEPTH; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'cairn' && typeof pkg.version === 'string') return (cached = pkg.version);
    } catch { /* no (readable) package.json here: look further up */ }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return (cached = 'unknown');
}
