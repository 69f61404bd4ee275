// `npm start`: the whole Borealis system on this machine, in the foreground, until Ctrl-C.
// Today: the embedded AWS (S3 + Kinesis per region) with the Borealis buckets and streams.
// Every process it starts is stopped on exit, and each also exits if this launcher dies.
import { join } from 'node:path';
import { parseFlags } from '../core/process/flags.ts';
import { embeddedRegions, regionalResources } from '../core/resources.ts';
import { Emulators } from './emulators.ts';
import { provisionRegion } from './provision.ts';
import {
  defaultStateDir,
  readSystemState,
  removeSystemState,
  stateDirPath,
  writeSystemState,
} from './state.ts';

const usage = `usage: npm start [-- --state-dir DIR]

Starts the embedded Borealis system in the foreground and stays up until Ctrl-C:
  per region (${embeddedRegions.join(', ')}): an S3-compatible server (s3rver) and a
  Kinesis-compatible server (kinesalite) on free 127.0.0.1 ports, with the Borealis
  backup bucket, redo stream and binlog stream created.

options:
  --state-dir DIR   where data, logs and system.json go (default ${defaultStateDir})
  --help            this text`;

const { values } = parseFlags('npm start', {
  'state-dir': { type: 'string', default: defaultStateDir },
  help: { type: 'boolean', default: false },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const stateDir = values['state-dir'];
const running = readSystemState(stateDir);
if (running) {
  console.error(
    `borealis: a system already runs from ${stateDirPath(stateDir)} (launcher pid ${running.launcherPid}); stop it with Ctrl-C in its terminal first`,
  );
  process.exit(1);
}

console.log(`borealis: starting the embedded system (state dir ${stateDirPath(stateDir)})`);
const emulators = await Emulators.start({ regions: embeddedRegions, dataDir: join(stateDir, 'emulators') });
let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    console.log('\nborealis: stopping every process this launcher started…');
    await emulators.stop();
    removeSystemState(stateDir);
    console.log('borealis: stopped');
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  const env = { ...process.env, ...emulators.env() };
  for (const region of embeddedRegions) await provisionRegion(regionalResources(region), env);
} catch (error) {
  console.error(`borealis: could not create the buckets and streams: ${(error as Error).message}`);
  await shutdown(1);
}
writeSystemState(stateDir, {
  launcherPid: process.pid,
  startedAt: new Date().toISOString(),
  emulators: emulators.state,
});

for (const region of embeddedRegions) {
  const endpoints = emulators.endpoints(region);
  const resources = regionalResources(region);
  console.log(`\n  ${region}`);
  console.log(`    S3       ${endpoints.s3}   bucket  ${resources.backupBucket}`);
  console.log(
    `    Kinesis  ${endpoints.kinesis}   streams ${resources.redoStream.name}, ${resources.binlogStream.name}`,
  );
}
console.log(`\n  logs: ${join(stateDirPath(stateDir), 'emulators', 'logs')}`);
console.log('  list what is there from another terminal:  npx borealis resources');
console.log('\nborealis: ready — Ctrl-C stops everything');

// A child that dies on its own leaves the system broken: say so and stop the rest.
const watch = setInterval(() => {
  if (!emulators.running && !stopping) {
    console.error('borealis: an emulator process exited unexpectedly; see the logs above');
    clearInterval(watch);
    void shutdown(1);
  }
}, 1_000);
