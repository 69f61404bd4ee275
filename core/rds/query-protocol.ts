// The AWS Query protocol ("awsquery") as the RDS API speaks it, both ways, pure: the SDK and the
// `aws` CLI POST a form (`Action=DescribeDBClusters&Version=2014-10-31&DBClusterIdentifier=…`, lists
// as `Name.Member.N`, structures as `Name.Field`) and read XML back — `<ActionResponse><ActionResult>…`
// with a request id, or `<ErrorResponse><Error><Type/><Code/><Message/></Error>` under an HTTP status
// that, with the code, names the exception the SDK throws (`DBClusterNotFoundFault`, …).
import { randomUUID } from 'node:crypto';

export const rdsApiVersion = '2014-10-31';
export const rdsXmlns = `http://rds.amazonaws.com/doc/${rdsApiVersion}/`;
/** A request form is small: the largest RDS requests (tags, filters) stay far below this. */
export const queryBodyBytesMax = 256 * 1024;
/** Parameters per request (a form with more is refused, not parsed). */
export const queryParamsMax = 1_000;

/** An RDS error as the API names it: the code is the SDK's exception name. */
export class RdsApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    readonly type: 'Sender' | 'Receiver' = status >= 500 ? 'Receiver' : 'Sender',
  ) {
    super(message);
  }
}

export interface QueryRequest {
  action: string;
  version: string | undefined;
  params: ReadonlyMap<string, string>;
}

/** Parses an x-www-form-urlencoded body; an unreadable one is a MalformedQueryString error. */
export function parseQueryRequest(body: string): QueryRequest {
  const params = new Map<string, string>();
  let count = 0;
  for (const [key, value] of new URLSearchParams(body)) {
    if (++count > queryParamsMax)
      throw new RdsApiError('MalformedQueryString', `more than ${queryParamsMax} parameters`);
    params.set(key, value);
  }
  const action = params.get('Action');
  if (action === undefined || action === '')
    throw new RdsApiError('MissingAction', 'the request has no Action');
  params.delete('Action');
  const version = params.get('Version');
  params.delete('Version');
  return { action, version, params };
}

/** Typed access to a request's parameters, with RDS's errors for bad values. */
export class QueryParams {
  constructor(private readonly params: ReadonlyMap<string, string>) {}

  string(name: string): string | undefined {
    return this.params.get(name);
  }

  required(name: string): string {
    const value = this.params.get(name);
    if (value === undefined || value === '')
      throw new RdsApiError('MissingParameter', `The request must contain the parameter ${name}`);
    return value;
  }

  integer(name: string, min: number, max: number): number | undefined {
    const raw = this.params.get(name);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw) || n < min || n > max) {
      throw new RdsApiError(
        'InvalidParameterValue',
        `${name} must be an integer from ${min} to ${max}, got '${raw}'`,
      );
    }
    return n;
  }

  boolean(name: string): boolean | undefined {
    const raw = this.params.get(name);
    if (raw === undefined) return undefined;
    if (raw !== 'true' && raw !== 'false')
      throw new RdsApiError('InvalidParameterValue', `${name} must be true or false, got '${raw}'`);
    return raw === 'true';
  }

  /** `Prefix.Member.1`, `Prefix.Member.2`, … (in index order; a gap ends the list). */
  list(prefix: string, member: string): string[] {
    const out: string[] = [];
    for (let i = 1; this.params.has(`${prefix}.${member}.${i}`); i++)
      out.push(this.params.get(`${prefix}.${member}.${i}`)!);
    return out;
  }

  /** `Filters.Filter.N.Name` and `Filters.Filter.N.Values.Value.M`. */
  filters(): { name: string; values: string[] }[] {
    const out: { name: string; values: string[] }[] = [];
    for (let i = 1; this.params.has(`Filters.Filter.${i}.Name`); i++) {
      out.push({
        name: this.params.get(`Filters.Filter.${i}.Name`)!,
        values: this.list(`Filters.Filter.${i}.Values`, 'Value'),
      });
    }
    return out;
  }
}

/**
 * An XML value: text (strings, numbers, booleans), omitted when null or undefined; an object is a
 * structure (one element per key, in order); an array under a key repeats that key's element.
 */
export type XmlValue = string | number | boolean | null | undefined | Date | XmlStruct | XmlValue[];
export interface XmlStruct {
  [name: string]: XmlValue;
}

function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`,
  );
}

function render(name: string, value: XmlValue, out: string[]): void {
  if (value === null || value === undefined) return;
  if (Array.isArray(value)) {
    for (const item of value) render(name, item, out);
    return;
  }
  if (value instanceof Date) {
    out.push(`<${name}>${value.toISOString()}</${name}>`);
    return;
  }
  if (typeof value === 'object') {
    out.push(`<${name}>`);
    for (const [k, v] of Object.entries(value)) render(k, v, out);
    out.push(`</${name}>`);
    return;
  }
  out.push(`<${name}>${escapeXml(String(value))}</${name}>`);
}

/** `<{action}Response><{action}Result>…</{action}Result><ResponseMetadata>…` */
export function queryResponseXml(
  action: string,
  result: XmlStruct,
  requestId: string = randomUUID(),
): string {
  const out = [`<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${rdsXmlns}">`];
  render(`${action}Result`, result, out);
  render('ResponseMetadata', { RequestId: requestId }, out);
  out.push(`</${action}Response>`);
  return out.join('');
}

/**
 * The code RDS puts on the wire for an error shape whose code is not its name (the model's
 * awsQueryError trait): boto3 and the `aws` CLI match on the wire code (`DBInstanceNotFound`), the
 * JavaScript SDK on either. Code throws the shape's name; the wire gets what RDS sends.
 */
export const queryWireCodes: Readonly<Record<string, string>> = {
  DBInstanceAlreadyExistsFault: 'DBInstanceAlreadyExists',
  DBInstanceNotFoundFault: 'DBInstanceNotFound',
  DBSnapshotNotFoundFault: 'DBSnapshotNotFound',
  InvalidDBInstanceStateFault: 'InvalidDBInstanceState',
  InstanceQuotaExceededFault: 'InstanceQuotaExceeded',
  InsufficientDBInstanceCapacityFault: 'InsufficientDBInstanceCapacity',
  ExportTaskAlreadyExistsFault: 'ExportTaskAlreadyExists',
  ExportTaskNotFoundFault: 'ExportTaskNotFound',
  InvalidExportOnlyFault: 'InvalidExportOnly',
  InvalidExportSourceStateFault: 'InvalidExportSourceState',
  SnapshotQuotaExceededFault: 'SnapshotQuotaExceeded',
  PointInTimeRestoreNotEnabledFault: 'PointInTimeRestoreNotEnabled',
};

export function queryErrorXml(error: RdsApiError, requestId: string = randomUUID()): string {
  const out = [`<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${rdsXmlns}">`];
  const code = queryWireCodes[error.code] ?? error.code;
  render('Error', { Type: error.type, Code: code, Message: error.message }, out);
  render('RequestId', requestId, out);
  out.push('</ErrorResponse>');
  return out.join('');
}

/** Opaque pagination markers: the identifier the next page starts after. */
export function encodeMarker(afterIdentifier: string): string {
  return Buffer.from(JSON.stringify({ after: afterIdentifier })).toString('base64url');
}

export function decodeMarker(marker: string | undefined): string | undefined {
  if (marker === undefined) return undefined;
  try {
    const doc = JSON.parse(Buffer.from(marker, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof doc.after === 'string') return doc.after;
  } catch {
    // fall through
  }
  throw new RdsApiError(
    'InvalidParameterValue',
    `Marker '${marker.slice(0, 64)}' is not one this API returned`,
  );
}

/** One page of `items` sorted by `id`, MaxRecords 20–100 (default 100) as RDS bounds it. */
export function page<T>(
  items: readonly T[],
  id: (item: T) => string,
  params: QueryParams,
): { items: T[]; marker: string | undefined } {
  const max = params.integer('MaxRecords', 20, 100) ?? 100;
  const after = decodeMarker(params.string('Marker'));
  const sorted = [...items].sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));
  const start = after === undefined ? 0 : sorted.findIndex((item) => id(item) > after);
  const rest = start === -1 ? [] : sorted.slice(start);
  const pageItems = rest.slice(0, max);
  return {
    items: pageItems,
    marker: rest.length > max ? encodeMarker(id(pageItems.at(-1)!)) : undefined,
  };
}
