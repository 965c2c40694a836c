/**
 * The object layer's model test (test/container/model.test.ts) against a connected pool: six
 * `cairn engine` processes on loopback and a real etcd, through two clients, engines killed and
 * restarted as it runs.
 */
process.env.CAIRN_TEST_CONNECTED = '1';
await import('../container/model.test.js');
