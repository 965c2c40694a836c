/**
 * The commit-order specification (test/container/commit-order.test.ts) against a connected pool:
 * six `cairn engine` processes on loopback and a real etcd.
 */
process.env.CAIRN_TEST_CONNECTED = '1';
await import('../container/commit-order.test.js');
