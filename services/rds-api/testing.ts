// For the RDS API's unit tests: an HTTP server answering with an RdsApi as main.ts does, so that
// @aws-sdk/client-rds can be pointed at it (its typed exceptions, wire codes and statuses checked).
import type { Server } from 'node:http';
import type { RdsApi } from './api.ts';

/** Makes `server` answer every request with `api` (any handler it had is dropped). */
export function serveRdsApi(server: Server, api: RdsApi): void {
  server.removeAllListeners('request');
  server.on('request', (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      void api.handle(body).then((answer) => {
        res.writeHead(answer.status, { 'content-type': 'text/xml' });
        res.end(answer.xml);
      });
    });
  });
}
