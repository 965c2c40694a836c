/**
 * Positional arguments of the probes (`bench/*.ts` run by hand): a whole number within bounds, or
 * an error naming the argument, its bounds and what was given, before any work starts.
 */

/** `process.argv[index]` as a whole number in [min, max], `dflt` when absent. */
export function wholeArg(index: number, dflt: number, min: number, max: number, what: string): number {
  const v = Number(process.argv[index] ?? dflt);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${what}: a whole number ${min}..${max} (got ${process.argv[index]})`);
  return v;
}
