/**
 * The object API specification (test/object/object.test.ts) run unchanged against a connected
 * pool: six `cairn engine` processes on loopback and a real etcd.
 */
process.env.CAIRN_TEST_CONNECTED = '1';
await import('../object/object.test.js');
