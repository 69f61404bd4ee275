// The test's hands inside a network namespace: a long-lived child (started with `ip netns exec NS`)
// that takes one JSON request per stdin line and answers one JSON line on stdout, with the same id:
//   {"id":1,"op":"sql","endpoint":"http://10.213.9.20:8080","resourceArn":…,"secretArn":…,"sql":"…"}
//     → {"id":1,"rows":[[…]]} or {"id":1,"error":{"name":…,"message":…}}   (the real RDS Data API client)
//   {"id":2,"op":"get","url":"http://10.213.9.10:7101/health"} → {"id":2,"status":200,"body":{…}}
// The test process itself stays in the host's namespace and never routes to the lab's addresses.
import { createInterface } from 'node:readline';
import { Sql } from '../harness/sql.ts';

type Request =
  | { id: number; op: 'sql'; endpoint: string; resourceArn: string; secretArn: string; sql: string }
  | { id: number; op: 'get'; url: string; timeoutMs?: number };

/** Requests are answered one at a time; a test sends a handful. */
const requestTimeoutMsDefault = 10_000;

async function answer(request: Request): Promise<Record<string, unknown>> {
  try {
    if (request.op === 'sql') {
      const sql = new Sql({
        endpoint: request.endpoint,
        resourceArn: request.resourceArn,
        secretArn: request.secretArn,
      });
      try {
        const rows = await sql.rows(request.sql);
        return { rows: rows.map((r) => r.map((v) => (typeof v === 'bigint' ? Number(v) : v))) };
      } finally {
        sql.client.destroy();
      }
    }
    const response = await fetch(request.url, {
      signal: AbortSignal.timeout(request.timeoutMs ?? requestTimeoutMsDefault),
    });
    return { status: response.status, body: await response.json() };
  } catch (error) {
    return { error: { name: (error as Error).name, message: (error as Error).message } };
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() === '') continue;
  const request = JSON.parse(line) as Request;
  process.stdout.write(`${JSON.stringify({ id: request.id, ...(await answer(request)) })}\n`);
}
