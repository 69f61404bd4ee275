#!/usr/bin/env node
// Run after every `npm install` that changes package-lock.json (npm run lock:prune).
// The npm registry reachable from these machines does not serve some platform-specific optional
// packages (e.g. @biomejs/cli-darwin-arm64, @msgpackr-extract/*-win32-x64). `npm install` leaves
// them out of the lock but keeps their names in their parents' optionalDependencies, and
// `npm ci` then refuses the lock as out of sync. Dropping the names that have no lock entry makes
// the lock self-consistent; nothing installable on any platform we run is lost. See docs/adr/003.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const locked = new Set(Object.keys(lock.packages).map((path) => path.replace(/^.*node_modules\//, '')));
const pruned = [];
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const name of Object.keys(entry.optionalDependencies ?? {})) {
    if (!locked.has(name)) {
      delete entry.optionalDependencies[name];
      pruned.push(`${path || '(root)'}: ${name}`);
    }
  }
}
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(
  pruned.length === 0 ? 'lock file already consistent' : `pruned ${pruned.length}:\n  ${pruned.join('\n  ')}`,
);
