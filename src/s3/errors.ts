/**
 * S3's own error vocabulary and its XML form. The gateway answers every failure with one of S3's
 * codes (`NoSuchKey`, `SignatureDoesNotMatch`, ...) in S3's `<Error>` document, because that is
 * what S3 clients branch on. Cairn errors from below are translated by ONE table
 * (`CAIRN_TO_S3`); S3 errors raised by the gateway itself are `S3Error`s, which are also
 * `CairnError`s (with a registry code chosen by their HTTP status) so library callers of the
 * gateway's in-process API see Cairn's usual error shape.
 */
import { CairnError } from '../../core/errors.js';
import { xmlDocument, el } from './xml.js';

type CairnCode = CairnError['code'];

/** HTTP status and default message of every S3 error code the gateway answers with. */
export const S3_ERRORS = {
  AccessDenied: [403, 'Access Denied.'],
  AuthorizationHeaderMalformed: [400, 'The authorization header is malformed.'],
  AuthorizationQueryParametersError: [400, 'Error parsing the X-Amz-Credential parameter.'],
  BadDigest: [400, 'The Content-MD5 or checksum you specified did not match what we received.'],
  BucketAlreadyExists: [409, 'The requested bucket name is not available.'],
  BucketAlreadyOwnedByYou: [409, 'Your previous request to create the named bucket succeeded and you already own it.'],
  BucketNotEmpty: [409, 'The bucket you tried to delete is not empty.'],
  EntityTooLarge: [400, 'Your proposed upload exceeds the maximum allowed object size.'],
  EntityTooSmall: [400, 'Your proposed upload is smaller than the minimum allowed object size.'],
  IncompleteBody: [400, 'You did not provide the number of bytes specified by the Content-Length HTTP header.'],
  InternalError: [500, 'We encountered an internal error. Please try again.'],
  InvalidAccessKeyId: [403, 'The AWS access key ID you provided does not exist in our records.'],
  InvalidArgument: [400, 'Invalid Argument.'],
  InvalidBucketName: [400, 'The specified bucket is not valid.'],
  InvalidDigest: [400, 'The Content-MD5 or checksum you specified is not valid.'],
  InvalidPart: [400, 'One or more of the specified parts could not be found or did not match its ETag.'],
  InvalidPartOrder: [400, 'The list of parts was not in ascending order.'],
  InvalidRange: [416, 'The requested range is not satisfiable.'],
  InvalidRequest: [400, 'Invalid Request.'],
  KeyTooLongError: [400, 'Your key is too long.'],
  MalformedXML: [400, 'The XML you provided was not well-formed or did not validate against our published schema.'],
  MetadataTooLarge: [400, 'Your metadata headers exceed the maximum allowed metadata size.'],
  MethodNotAllowed: [405, 'The specified method is not allowed against this resource.'],
  MissingContentLength: [411, 'You must provide the Content-Length HTTP header.'],
  MissingSecurityHeader: [400, 'Your request is missing a required header.'],
  NoSuchBucket: [404, 'The specified bucket does not exist.'],
  NoSuchKey: [404, 'The specified key does not exist.'],
  NoSuchUpload: [404, 'The specified multipart upload does not exist.'],
  NoSuchVersion: [404, 'The specified version does not exist.'],
  NotImplemented: [501, 'A header or query you provided implies functionality that is not implemented.'],
  OperationAborted: [409, 'A conflicting conditional operation is currently in progress against this resource. Try again.'],
  PreconditionFailed: [412, 'At least one of the preconditions you specified did not hold.'],
  RequestHeaderSectionTooLarge: [400, 'Your request header section exceeds the maximum allowed size.'],
  RequestTimeTooSkewed: [403, 'The difference between the request time and the server\'s time is too large.'],
  RequestTimeout: [400, 'Your socket connection to the server was not read from or written to within the timeout period.'],
  ServiceUnavailable: [503, 'Service is unable to handle request.'],
  SignatureDoesNotMatch: [403, 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'],
  SlowDown: [503, 'Please reduce your request rate.'],
  XAmzContentSHA256Mismatch: [400, 'The provided \'x-amz-content-sha256\' header does not match what was computed.'],
  XMinioStorageFull: [507, 'Storage backend has reached its minimum free drive threshold.'],
} as const satisfies Record<string, readonly [number, string]>;

/** An S3 error code (the `<Code>` of S3's error document). */
export type S3Code = keyof typeof S3_ERRORS;

/**
 * Cairn error codes -> the S3 code a client sees. Codes not listed are `InternalError`.
 * `NOT_FOUND` is named more precisely where the gateway knows what was missing (bucket, key,
 * upload); this is the fallback.
 */
export const CAIRN_TO_S3: Partial<Record<CairnCode, S3Code>> = {
  INVALID_ARGUMENT: 'InvalidArgument',
  KEY_TOO_LARGE: 'KeyTooLongError',
  VALUE_TOO_LARGE: 'EntityTooLarge',
  UNKNOWN_OBJECT_CLASS: 'InvalidArgument',
  RF_VIOLATION: 'InvalidArgument',
  NOT_FOUND: 'NoSuchKey',
  EXISTS: 'BucketAlreadyOwnedByYou',
  READ_ONLY: 'AccessDenied',
  AUTH_FAILED: 'AccessDenied',
  TX_RESTART: 'OperationAborted',
  ETCD_CONFLICT: 'OperationAborted',
  TIMEOUT: 'RequestTimeout',
  ABORTED: 'RequestTimeout',
  NO_SPACE: 'XMinioStorageFull',
  POOL_CLOSED: 'ServiceUnavailable',
  CLOSED: 'ServiceUnavailable',
  DATA_LOST: 'ServiceUnavailable',
  EC_TOO_FEW_SHARDS: 'ServiceUnavailable',
  INSUFFICIENT_TARGETS: 'ServiceUnavailable',
  NET_UNREACHABLE: 'ServiceUnavailable',
  NET_TIMEOUT: 'ServiceUnavailable',
  ETCD_UNREACHABLE: 'ServiceUnavailable',
  STALE_MAP: 'ServiceUnavailable',
};

/** The Cairn registry code an S3 error carries, chosen by its HTTP status. */
function cairnCodeOf(status: number): CairnCode {
  if (status === 403) return 'AUTH_FAILED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return 'EXISTS';
  if (status === 507) return 'NO_SPACE';
  if (status >= 500) return 'INTERNAL';
  return 'INVALID_ARGUMENT';
}

/** Where an error happened, for the `<Error>` document. */
export interface S3ErrorContext { bucket?: string; key?: string; resource?: string; requestId?: string }

/** An error the gateway answers with an S3 code. */
export class S3Error extends CairnError {
  /** The S3 `<Code>`. */
  readonly s3Code: S3Code;
  /** HTTP status. */
  readonly status: number;
  /** Extra elements of the error document (e.g. `Key`, `BucketName`, `ArgumentName`). */
  readonly extra: Record<string, string>;

  constructor(s3Code: S3Code, message?: string, extra: Record<string, string> = {}, options?: { cause?: unknown }) {
    const [status, text] = S3_ERRORS[s3Code];
    super(cairnCodeOf(status), message ?? text, { s3Code, ...extra }, options);
    this.s3Code = s3Code;
    this.status = status;
    this.extra = extra;
  }
}

/** Any thrown value as the S3 error to answer with. */
export function toS3Error(err: unknown): S3Error {
  if (err instanceof S3Error) return err;
  if (err instanceof CairnError) {
    const code = CAIRN_TO_S3[err.code] ?? 'InternalError';
    return new S3Error(code, code === 'InternalError' ? `${err.code}: ${err.message}` : err.message, {}, { cause: err });
  }
  return new S3Error('InternalError', undefined, {}, { cause: err });
}

/** S3's XML error document (`<Error>` without a namespace, exactly as S3 sends it). */
export function errorXml(err: S3Error, ctx: S3ErrorContext): string {
  const extra = Object.entries(err.extra).map(([k, v]) => el(k, v));
  return xmlDocument(el('Error', [
    el('Code', err.s3Code),
    el('Message', err.message),
    ...(ctx.bucket && !('BucketName' in err.extra) ? [el('BucketName', ctx.bucket)] : []),
    ...(ctx.key && !('Key' in err.extra) ? [el('Key', ctx.key)] : []),
    ...extra,
    ...(ctx.resource ? [el('Resource', ctx.resource)] : []),
    ...(ctx.requestId ? [el('RequestId', ctx.requestId)] : []),
  ]), { namespace: false });
}
