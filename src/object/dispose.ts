/**
 * `Symbol.asyncDispose` where the runtime lacks it, so `await using pool = await Pool.open(...)`
 * works on every supported Node. Node 20 defines it (as the registered symbol
 * `Symbol.for('nodejs.asyncDispose')`); older runtimes get that same symbol, so classes that define
 * `[Symbol.asyncDispose]` and the code that disposes them always agree. Import this module before
 * any class body that names the symbol is evaluated.
 */
if (typeof (Symbol as { asyncDispose?: symbol }).asyncDispose !== 'symbol') {
  Object.defineProperty(Symbol, 'asyncDispose', { value: Symbol.for('nodejs.asyncDispose'), writable: false, enumerable: false, configurable: false });
}

/** The symbol `await using` calls (defined by the runtime or by this module). */
export const ASYNC_DISPOSE: typeof Symbol.asyncDispose = Symbol.asyncDispose;
