#!/usr/bin/env node
// The `cairn` command: a thin launcher for the compiled CLI (built by `npm install`).
import('../dist/src/cli/main.js').then((m) => m.main(process.argv.slice(2))).then(
  (code) => { process.exitCode = code ?? 0; },
  (err) => { console.error(err?.stack ?? String(err)); process.exitCode = 1; },
);
