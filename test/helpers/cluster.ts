/** The real cluster of tests and benchmarks lives in bench/cluster.ts (benchmarks never import tests). */
export * from '../../bench/cluster.js';
