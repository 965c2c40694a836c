/**
 * The XML of S3 documents: a small builder for responses (elements of escaped text, nothing
 * else is needed) and a parser for the few request bodies S3 defines (CompleteMultipartUpload,
 * Delete, CreateBucketConfiguration), via fast-xml-parser.
 */
import { XMLParser } from 'fast-xml-parser';
import { S3Error } from './errors.js';

/** A built XML fragment (already escaped). */
export interface Xml { readonly xml: string }

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Escape text for element content or attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** An element holding escaped text, or child elements. */
export function el(name: string, content: string | number | boolean | Xml[]): Xml {
  const inner = Array.isArray(content) ? content.map((c) => c.xml).join('') : escapeXml(String(content));
  return { xml: `<${name}>${inner}</${name}>` };
}

/** S3's namespace for response documents. */
export const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** A whole document: declaration plus the root element, with S3's namespace on the root. */
export function xmlDocument(root: Xml): string {
  const withNs = root.xml.replace(/^<([A-Za-z]+)>/, `<$1 xmlns="${S3_XMLNS}">`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${withNs}`;
}

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
