/** The test etcd lives in bench/etcd.ts, shared with the benchmarks (which never import tests). */
export * from '../../bench/etcd.js';
