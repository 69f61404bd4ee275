#!/usr/bin/env node
// The `borealis` command: loads the TypeScript CLI through tsx (no build step in this project).
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
