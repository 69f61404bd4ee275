import { describe, expect, it } from 'vitest';
import {
  decodeMarker,
  encodeMarker,
  page,
  parseQueryRequest,
  QueryParams,
  queryErrorXml,
  queryResponseXml,
  RdsApiError,
} from './query-protocol.ts';

const params = (body: string) => new QueryParams(parseQueryRequest(body).params);

describe('the AWS Query protocol of the RDS API', () => {
  it('parses the action, version, scalars, member lists and filters of a form body', () => {
    const request = parseQueryRequest(
      'Action=DescribeDBInstances&Version=2014-10-31&MaxRecords=20&Filters.Filter.1.Name=db-cluster-id' +
        '&Filters.Filter.1.Values.Value.1=a&Filters.Filter.1.Values.Value.2=b%20c&Filters.Filter.2.Name=engine',
    );
    expect(request.action).toBe('DescribeDBInstances');
    expect(request.version).toBe('2014-10-31');
    const p = new QueryParams(request.params);
    expect(p.integer('MaxRecords', 20, 100)).toBe(20);
    expect(p.filters()).toEqual([
      { name: 'db-cluster-id', values: ['a', 'b c'] },
      { name: 'engine', values: [] },
    ]);
    expect(p.string('Action')).toBeUndefined();
  });

  it('refuses what RDS refuses, with its codes', () => {
    expect(() => parseQueryRequest('Version=2014-10-31')).toThrow(
      expect.objectContaining({ code: 'MissingAction' }),
    );
    expect(() => params('Action=X&MaxRecords=5').integer('MaxRecords', 20, 100)).toThrow(
      expect.objectContaining({ code: 'InvalidParameterValue' }),
    );
    expect(() => params('Action=X&MaxRecords=2x').integer('MaxRecords', 20, 100)).toThrow(/integer/);
    expect(() => params('Action=X').required('DBClusterIdentifier')).toThrow(
      expect.objectContaining({ code: 'MissingParameter' }),
    );
    expect(() => params('Action=X&B=yes').boolean('B')).toThrow(/true or false/);
    expect(() => decodeMarker('not-a-marker')).toThrow(
      expect.objectContaining({ code: 'InvalidParameterValue' }),
    );
    const many = Array.from({ length: 1_001 }, (_, i) => `P${i}=1`).join('&');
    expect(() => parseQueryRequest(`Action=X&${many}`)).toThrow(
      expect.objectContaining({ code: 'MalformedQueryString' }),
    );
  });

  it('writes results and errors as the SDK reads them: lists repeat their member element, text is escaped, nothing for null', () => {
    const xml = queryResponseXml(
      'DescribeDBClusters',
      {
        DBClusters: {
          DBCluster: [
            { DBClusterIdentifier: 'a<b', Port: 3306, MultiAZ: true, Gone: null },
            { DBClusterIdentifier: 'c' },
          ],
        },
        Marker: undefined,
      },
      'req-1',
    );
    expect(xml).toContain(
      '<DescribeDBClustersResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><DescribeDBClustersResult>' +
        '<DBClusters><DBCluster><DBClusterIdentifier>a&lt;b</DBClusterIdentifier><Port>3306</Port><MultiAZ>true</MultiAZ></DBCluster>' +
        '<DBCluster><DBClusterIdentifier>c</DBClusterIdentifier></DBCluster></DBClusters></DescribeDBClustersResult>' +
        '<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></DescribeDBClustersResponse>',
    );
    const error = new RdsApiError('DBClusterNotFoundFault', 'DBCluster x not found.', 404);
    expect(queryErrorXml(error, 'req-2')).toContain(
      '<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type>' +
        '<Code>DBClusterNotFoundFault</Code><Message>DBCluster x not found.</Message></Error><RequestId>req-2</RequestId></ErrorResponse>',
    );
    // A shape whose wire code differs (boto3 and the aws CLI match on the code): RDS's code is sent.
    const instance = new RdsApiError('DBInstanceNotFoundFault', 'DBInstance y not found.', 404);
    expect(queryErrorXml(instance, 'req-3')).toContain('<Code>DBInstanceNotFound</Code>');
  });

  it('pages by identifier with an opaque marker, every item exactly once', () => {
    const items = Array.from({ length: 45 }, (_, i) => `c${String(i).padStart(2, '0')}`).reverse();
    const seen: string[] = [];
    let marker: string | undefined;
    do {
      const p = params(`Action=X&MaxRecords=20${marker === undefined ? '' : `&Marker=${marker}`}`);
      const got = page(items, (x) => x, p);
      seen.push(...got.items);
      marker = got.marker;
    } while (marker !== undefined);
    expect(seen).toEqual([...items].sort());
    expect(decodeMarker(encodeMarker('c19'))).toBe('c19');
  });
});
