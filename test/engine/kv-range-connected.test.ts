/**
 * The KV listing specification (test/object/kv-range.test.ts: ranges, limits, reverse, against a
 * sorted model) against a connected pool: six `cairn engine` processes and a real etcd.
 */
process.env.CAIRN_TEST_CONNECTED = '1';
await import('../object/kv-range.test.js');
