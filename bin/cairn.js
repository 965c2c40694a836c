#!/usr/bin/env node
// The `cairn` command: a thin launcher for the compiled CLI in dist/ (shipped in the package; in a
// checkout, `npm install` or `npm run build` makes it). Every failure is one line on stderr.
const oneLine = (e) => String(e?.message ?? e).split('\n')[0];
import('../dist/src/cli/main.js').then(
  (m) => m.main(process.argv.slice(2)),
  (err) => {
    process.stderr.write(`cairn: cannot load the compiled CLI (dist/src/cli/main.js): ${oneLine(err)}; in a checkout run \`npm run build\`\n`);
    return 1;
  },
).then(
  (code) => { process.exitCode = code ?? 0; },
  (err) => { process.stderr.write(`cairn: internal error: ${oneLine(err)}\n`); process.exitCode = 1; },
);
