/**
 * The namespace's model test (test/dfs/model.test.ts: node:fs as the oracle) against a connected
 * pool: six `cairn engine` processes on loopback and a real etcd.
 */
process.env.CAIRN_TEST_CONNECTED = '1';
await import('../dfs/model.test.js');
