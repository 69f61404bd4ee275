// `up --aws`'s checks before it starts: which deployed resources, in which order, and the one line
// for a missing resource (deploy first) versus an endpoint that does not answer.
import { describe, expect, it } from 'vitest';
import { deployedResources, endpointLabel, isNotFound, missingResourceLine } from './checks.ts';

describe('up --aws checks', () => {
  it('checks the bucket, the redo stream, the topology parameter and the provision queue of the cluster', () => {
    expect(deployedResources('us-east-1', 'helper-a')).toEqual([
      { kind: 'bucket', name: 'helper-a-backup-us-east-1', service: 's3' },
      { kind: 'stream', name: 'helper-a-redo', service: 'kinesis' },
      { kind: 'parameter', name: '/borealis/helper-a/topology', service: 'ssm' },
      { kind: 'queue', name: 'helper-a-provision', service: 'sqs' },
    ]);
  });

  it('names the endpoint the environment resolves, most specific first, or AWS itself', () => {
    const env = { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000' };
    expect(endpointLabel('s3', 'us-east-1', env)).toBe('http://127.0.0.1:9000');
    expect(endpointLabel('sqs', 'us-east-1', env)).toBe('http://127.0.0.1:4566');
    expect(endpointLabel('ssm', 'eu-west-1', {})).toBe('AWS ssm (eu-west-1)');
  });

  it('a missing resource is one line that says to deploy first', () => {
    const [bucket, stream, parameter, queue] = deployedResources('us-east-1', 'borealis');
    const at = 'http://127.0.0.1:4566';
    const notFound = (name: string, status = 400) =>
      Object.assign(new Error('x'), { name, $metadata: { httpStatusCode: status } });
    expect(missingResourceLine(bucket!, at, notFound('NotFound', 404))).toBe(
      'bucket borealis-backup-us-east-1 not found at http://127.0.0.1:4566: deploy first (npm run deploy:local)',
    );
    expect(missingResourceLine(stream!, at, notFound('ResourceNotFoundException'))).toBe(
      'stream borealis-redo not found at http://127.0.0.1:4566: deploy first (npm run deploy:local)',
    );
    expect(missingResourceLine(parameter!, at, notFound('ParameterNotFound'))).toBe(
      'parameter /borealis/borealis/topology not found at http://127.0.0.1:4566: deploy first (npm run deploy:local)',
    );
    expect(missingResourceLine(queue!, at, notFound('QueueDoesNotExist'))).toBe(
      'queue borealis-provision not found at http://127.0.0.1:4566: deploy first (npm run deploy:local)',
    );
  });

  it('an endpoint that does not answer is a different line, with the cause', () => {
    const [bucket] = deployedResources('us-east-1', 'borealis');
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    expect(isNotFound(refused)).toBe(false);
    expect(missingResourceLine(bucket!, 'http://127.0.0.1:1', refused)).toBe(
      'cannot check bucket borealis-backup-us-east-1 at http://127.0.0.1:1: ECONNREFUSED',
    );
    const denied = Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
    expect(missingResourceLine(bucket!, 'AWS s3 (us-east-1)', denied)).toBe(
      'cannot check bucket borealis-backup-us-east-1 at AWS s3 (us-east-1): AccessDenied: Access Denied',
    );
  });
});
