/**
 * The S3 gateway: `createS3Server(pool, opts)` serves a pool's containers as S3 buckets
 * (AWS Signature V4, multipart uploads, Range reads, epochs as version ids). See docs/s3.md.
 */
export { createS3Server, S3Server, type S3ServerOptions, type S3Credentials, DEFAULT_MAX_CONCURRENT_REQUESTS, MAX_PUT_BYTES } from './server.js';
export { S3Error, S3_ERRORS, CAIRN_TO_S3, type S3Code } from './errors.js';
export { S3Store, S3Bucket, type ObjectRecord, type BodyPart, validBucketName } from './bucket-store.js';
export { verifySigV4, type SigV4Result, type SigV4Options, type SigV4Request } from './sigv4.js';
