// The Node.js side of the borealis-host LocalStack executor: one Lambda execution environment.
// Loads the function's handler from the unzipped bundle (the cwd, LAMBDA_TASK_ROOT) once — the
// init phase — then serves invocations one at a time on a loopback port: POST /invoke with
// LocalStack's invoke payload ({"invoke-id", "invoked-function-arn", "payload", "trace-id"}),
// answered with {"ok", "body", "exit"}: body is the handler's JSON result, or Lambda's error
// document ({errorType, errorMessage, trace}) when it threw or timed out. `exit` asks the executor
// not to reuse this process (after a timeout the handler may still run, as a sandbox would).
// The first stdout line is {"borealisRuntime":"ready","port":N}; everything else is function log.
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
const handlerSpec = process.env.BOREALIS_LAMBDA_HANDLER || process.env._HANDLER || 'index.handler';
const timeoutMs = Number(process.env.BOREALIS_LAMBDA_TIMEOUT_SECONDS || '3') * 1000;
/** Largest invoke payload Lambda accepts synchronously (6 MB); bigger requests are refused. */
const maxRequestBytes = 6 * 1024 * 1024 + 64 * 1024;

function errorDocument(error, type) {
  const e = error instanceof Error ? error : new Error(String(error));
  return {
    errorType: type ?? e.name ?? 'Error',
    errorMessage: e.message,
    trace: String(e.stack ?? '').split('\n'),
  };
}

async function loadHandler() {
  const dot = handlerSpec.lastIndexOf('.');
  if (dot <= 0) throw new Error(`bad handler '${handlerSpec}': expected FILE.EXPORT`);
  const base = join(taskRoot, handlerSpec.slice(0, dot));
  const exportName = handlerSpec.slice(dot + 1);
  const file = ['.mjs', '.js', '.cjs'].map((ext) => base + ext).find((f) => existsSync(f));
  if (!file) throw new Error(`Runtime.ImportModuleError: no ${base}.{mjs,js,cjs} in ${taskRoot}`);
  const module = await import(pathToFileURL(file).href);
  const fn = module[exportName] ?? module.default?.[exportName];
  if (typeof fn !== 'function') {
    throw new Error(`Runtime.HandlerNotFound: ${handlerSpec} is not a function in ${file}`);
  }
  return fn;
}

function context(request, deadline) {
  return {
    awsRequestId: request['invoke-id'],
    invokedFunctionArn: request['invoked-function-arn'],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

/** Runs the handler (async, or callback style with three parameters) under the function timeout. */
function run(handler, event, ctx) {
  const result = new Promise((resolve, reject) => {
    if (handler.length >= 3) {
      handler(event, ctx, (error, value) => (error ? reject(error) : resolve(value)));
    } else {
      Promise.resolve()
        .then(() => handler(event, ctx))
        .then(resolve, reject);
    }
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { timedOut: true })), timeoutMs);
  });
  return Promise.race([result, timeout]).finally(() => clearTimeout(timer));
}

let handler;
try {
  handler = await loadHandler();
} catch (error) {
  console.error(JSON.stringify(errorDocument(error, 'Runtime.ImportModuleError')));
  process.exit(1);
}

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/invoke') {
    res.writeHead(404).end();
    return;
  }
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size <= maxRequestBytes) chunks.push(chunk);
  });
  req.on('end', async () => {
    let requestId = null;
    const answer = (ok, body, exit = false) => {
      // As Lambda's runtime does, a failed invocation's error goes to the function's log too.
      if (!ok) console.error(`ERROR\tInvoke Error \t${JSON.stringify(body)}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok, body: JSON.stringify(body ?? null), exit }));
      // After the answer and after anything the handler logged: the executor waits for both.
      if (requestId !== null) {
        const marker = `${JSON.stringify({ borealisRuntime: 'end', requestId })}\n`;
        process.stdout.write(marker);
        process.stderr.write(marker);
      }
    };
    if (size > maxRequestBytes) {
      answer(false, { errorType: 'RequestTooLarge', errorMessage: `payload of ${size} bytes` });
      return;
    }
    let request;
    let event;
    try {
      request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      requestId = typeof request['invoke-id'] === 'string' ? request['invoke-id'] : null;
      event = JSON.parse(request.payload || 'null');
    } catch (error) {
      answer(false, errorDocument(error, 'Runtime.InvalidPayload'));
      return;
    }
    try {
      const value = await run(handler, event, context(request, Date.now() + timeoutMs));
      answer(true, value === undefined ? null : value);
    } catch (error) {
      if (error?.timedOut) {
        answer(
          false,
          { errorType: 'Sandbox.Timedout', errorMessage: `Task timed out after ${timeoutMs / 1000} seconds` },
          true,
        );
      } else {
        answer(false, errorDocument(error));
      }
    }
  });
});

// An unhandled rejection or exception outside an invocation ends the sandbox, as on AWS.
process.on('uncaughtException', (error) => {
  console.error(JSON.stringify(errorDocument(error, 'Runtime.UnhandledError')));
  process.exit(1);
});
process.on('SIGTERM', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ borealisRuntime: 'ready', port: server.address().port })}\n`);
});
