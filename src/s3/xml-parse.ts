/**
 * The parser for the few request bodies S3 defines (CompleteMultipartUpload, Delete,
 * CreateBucketConfiguration), via fast-xml-parser; a body that is not the expected document is
 * `MalformedXML`.
 */
import { XMLParser } from 'fast-xml-parser';
import { S3Error } from './errors.js';

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  isArray: (name) => name === 'Part' || name === 'Object',
});

/** Parse a request body; `MalformedXML` when it is not XML with the expected root. */
export function parseXml(body: Uint8Array, root: string): Record<string, unknown> {
  let doc: Record<string, unknown>;
  try {
    doc = parser.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'), true) as Record<string, unknown>;
  } catch (err) {
    throw new S3Error('MalformedXML', undefined, {}, { cause: err });
  }
  const r = doc[root];
  if (r === undefined || r === null) throw new S3Error('MalformedXML', `expected a ${root} document`);
  return (typeof r === 'object' ? r : {}) as Record<string, unknown>;
}
