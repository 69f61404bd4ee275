import { describe, expect, it } from 'vitest';
import { embeddedEndpointVariable, resolveEndpoint } from './endpoints.ts';

describe('resolveEndpoint', () => {
  it('prefers the per-region embedded variable, then the per-service one, then AWS_ENDPOINT_URL', () => {
    const env = {
      BOREALIS_ENDPOINT_KINESIS_US_WEST_2: 'http://127.0.0.1:2',
      AWS_ENDPOINT_URL_KINESIS: 'http://127.0.0.1:3',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:4',
    };
    expect(resolveEndpoint('kinesis', 'us-west-2', env)).toBe('http://127.0.0.1:2');
    expect(resolveEndpoint('kinesis', 'us-east-1', env)).toBe('http://127.0.0.1:3');
    expect(resolveEndpoint('s3', 'us-east-1', env)).toBe('http://127.0.0.1:4');
  });

  it('returns undefined (real AWS) when nothing is set, and ignores empty values', () => {
    expect(resolveEndpoint('s3', 'eu-west-1', {})).toBeUndefined();
    expect(resolveEndpoint('s3', 'eu-west-1', { AWS_ENDPOINT_URL: '' })).toBeUndefined();
  });

  it('names the embedded variable after service and region', () => {
    expect(embeddedEndpointVariable('s3', 'us-east-1')).toBe('BOREALIS_ENDPOINT_S3_US_EAST_1');
    expect(embeddedEndpointVariable('rds-data', 'ap-south-1')).toBe('BOREALIS_ENDPOINT_RDS_DATA_AP_SOUTH_1');
  });
});
