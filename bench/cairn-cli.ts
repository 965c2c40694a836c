/** Runs the `cairn` CLI from source (tests and cluster benchmarks spawn this with `node --import tsx`). */
import { main } from '../src/cli/main.js';
process.exitCode = await main(process.argv.slice(2));
