// Process entry: a Kinesis-compatible server (kinesalite) for one region, bound to loopback only
// (its own CLI listens on every interface). Prints a ready line with the port it got.
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import kinesalite from 'kinesalite';
import { parseFlags } from '../core/process/flags.ts';
import { exitWithParent } from '../core/process/parent-watch.ts';
import { announceReady } from '../core/process/spawn.ts';

const usage = `usage: kinesis-emulator --data-dir DIR [--port N]

Runs kinesalite on 127.0.0.1. --port 0 (the default) picks a free port; the chosen
port is printed as {"ready":true,"port":N}.`;

const { values } = parseFlags('kinesis-emulator', {
  'data-dir': { type: 'string' },
  port: { type: 'string', default: '0' },
  help: { type: 'boolean', default: false },
});
if (values.help || values['data-dir'] === undefined) {
  console.log(usage);
  process.exit(values.help ? 0 : 2);
}
mkdirSync(values['data-dir'], { recursive: true });
const server = kinesalite({
  path: values['data-dir'],
  // Streams are usable almost at once, as tests and `npm start` create them on every run.
  createStreamMs: 50,
  deleteStreamMs: 50,
  updateStreamMs: 50,
  shardLimit: 100,
});
server.listen(Number(values.port), '127.0.0.1', () => {
  announceReady({ service: 'kinesis', port: (server.address() as AddressInfo).port });
});
const shutdown = () => server.close(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
exitWithParent(shutdown);
