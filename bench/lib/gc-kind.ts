/** The kind of a `gc` performance entry (a `perf_hooks` constant such as NODE_PERFORMANCE_GC_MAJOR); Node 20's type for entries leaves `detail` out. */
export function gcKind(e: PerformanceEntry): number | undefined {
  return (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
}
