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

/**
 * The text of element `name` of a parsed element `parent`: MalformedXML when the element is
 * absent (unless `optional`), repeated, or holds elements instead of text (`String()` of those
 * would be "[object Object]" or "a,b": another key, another part).
 */
export function textOf(parent: unknown, name: string, optional?: false): string;
export function textOf(parent: unknown, name: string, optional: true): string | undefined;
export function textOf(parent: unknown, name: string, optional = false): string | undefined {
  if (typeof parent !== 'object' || parent === null || Array.isArray(parent)) throw new S3Error('MalformedXML', `expected an element holding ${name}`);
  const v = (parent as Record<string, unknown>)[name];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string') throw new S3Error('MalformedXML', v === undefined ? `missing ${name}` : `${name} must be text, once`);
  return v;
}

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
