// Preload for the test runner (`node --import ./scripts/uvu-hook-errors.mjs`): makes a uvu suite's
// failing `before` hook a reported failure. uvu 0.5.6's runner awaits the `before` hooks inside a
// try whose `finally` returns, so a hook's error is dropped: the suite shows 0 of N passed with no
// message (test/engine/ec-rmw failed that way once, session 67). The load hook below rewrites that
// one statement of uvu's runner as it is loaded; if uvu's text ever differs it throws, so the
// guard cannot silently stop applying.
import { register } from 'node:module';

register('./uvu-hook-errors-loader.mjs', import.meta.url);
