/** Runs the `cairn` CLI from source (tests spawn this with `node --import tsx`); see bench/cairn-cli.ts. */
import '../../bench/cairn-cli.js';
