/**
 * The XML of S3 response documents: a small builder (elements of escaped text, nothing else is
 * needed). Request bodies are parsed by xml-parse.ts.
 */

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

/**
 * A whole document: declaration plus the root element, with S3's namespace on the root unless
 * `namespace` is false. S3 sends its `<Error>` documents without a namespace, and clients rely on
 * that: botocore (aws-cli, boto3) recognises an S3 error only by a root tag of exactly `Error`, and
 * reports an empty code for `<Error xmlns=...>`.
 */
export function xmlDocument(root: Xml, opts: { namespace?: boolean } = {}): string {
  const body = opts.namespace === false ? root.xml : root.xml.replace(/^<([A-Za-z]+)>/, `<$1 xmlns="${S3_XMLNS}">`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
}
