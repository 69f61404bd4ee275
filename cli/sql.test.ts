import { describe, expect, it } from 'vitest';
import { sqlFailure } from './sql.ts';

describe('sqlFailure', () => {
  it('names our own deadline, also when the SDK aborts with a service-exception shape', () => {
    const endpoint = 'http://127.0.0.1:9001';
    const line = 'no answer from http://127.0.0.1:9001 within 200 ms (--timeout-ms to wait longer)';
    const sdkAbort = Object.assign(new Error('Request aborted'), { name: 'AbortError', $metadata: {} });
    expect(sqlFailure(sdkAbort, endpoint, 200).message).toBe(line);
    expect(sqlFailure(Object.assign(new Error('x'), { name: 'TimeoutError' }), endpoint, 200).message).toBe(
      line,
    );
    const service = Object.assign(new Error('no such table: t'), {
      name: 'DatabaseErrorException',
      $metadata: { httpStatusCode: 400 },
    });
    expect(sqlFailure(service, endpoint, 200).message).toMatch(/DatabaseErrorException: no such table: t/);
  });
});
