// The proxy's accept loop, one per endpoint (cluster/writer and reader): reads and checks a Data API
// request exactly as an instance would — so bad input gets the instance's error and is never
// forwarded — then hands it to the proxy and writes back the one reply it gets.
import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { toDataApiError, unknownOperation } from '../../core/data-api/errors.ts';
import {
  checkCaller,
  parseInput,
  readBody,
  requestBytesMaxDefault,
  sendError,
} from '../../core/data-api/server.ts';
import type { Logger } from '../../core/log.ts';
import { classifyRequest, operationOf } from './classify.ts';
import type { Dispatcher, Reply } from './dispatcher.ts';
import type { ProxyMetrics } from './metrics.ts';
import type { EndpointKind } from './router.ts';

export interface ProxyServerOptions {
  endpoint: EndpointKind;
  port: number;
  host?: string;
  dispatcher: Dispatcher;
  /** The cluster's ARNs from the topology (undefined before the first): callers must name them. */
  callerArns: () => { resourceArn: string; secretArn: string } | undefined;
  metrics: ProxyMetrics;
  logger: Logger;
}

export interface ProxyServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startProxyServer(options: ProxyServerOptions): Promise<ProxyServer> {
  const server = createServer((req, res) => {
    void handle(options, req, res).catch((error: unknown) => {
      // handle() answers every failure itself; reaching here is a bug, but the proxy stays up.
      options.logger.error({ err: error }, 'proxy request handling failed');
      if (!res.headersSent) sendError(req, res, toDataApiError(error), randomUUID());
    });
  });
  server.on('error', (error) => options.logger.error({ err: error }, 'proxy server error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  options.logger.info({ endpoint: options.endpoint, port }, 'proxy endpoint listening');
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

async function handle(options: ProxyServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
  const operation = operationOf(method, path);
  res.on('error', (error) => options.logger.debug({ err: error }, 'reply not delivered'));
  let submission: Parameters<Dispatcher['submit']>[0];
  try {
    // As an instance does: the body is read (or drained) before even an unknown path is answered.
    const body = await readBody(req, requestBytesMaxDefault);
    if (operation === undefined) throw unknownOperation(method, path);
    const input = parseInput(body);
    // Checked here too, in the instance's order, so a request the instance would refuse is never held.
    const arns = operation.checksCaller ? options.callerArns() : undefined;
    if (arns !== undefined) checkCaller(arns, input);
    const request = classifyRequest(operation.name, input);
    submission = { endpoint: options.endpoint, path, request, input, body, reply: (r) => write(req, res, r) };
  } catch (error) {
    const failure = toDataApiError(error);
    options.metrics.requests.inc({
      endpoint: options.endpoint,
      operation: operation?.name ?? 'unknown',
      outcome: failure.statusCode >= 500 ? 'internal_error' : 'bad_request',
    });
    options.logger.debug({ path, error: failure.name, message: failure.message }, 'request refused');
    sendError(req, res, failure, randomUUID());
    return;
  }
  const cancel = options.dispatcher.submit(submission);
  res.once('close', () => {
    if (!res.writableFinished) cancel();
  });
}

function write(req: IncomingMessage, res: ServerResponse, reply: Reply): void {
  if (reply.kind === 'error') {
    sendError(req, res, reply.error, randomUUID());
    return;
  }
  if (res.headersSent || res.destroyed || req.socket.destroyed) return;
  // The instance's headers as they are (passHeaders made them ours), its request id included.
  const headers: OutgoingHttpHeaders = reply.headers;
  headers['content-length'] = String(reply.body.length);
  headers['x-amzn-requestid'] ??= randomUUID();
  res.writeHead(reply.status, headers);
  res.end(reply.body);
}
