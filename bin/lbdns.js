#!/usr/bin/env node
// Runs the built CLI when there is one (the container image), else the TypeScript source
// directly: Node 24 strips types itself, so a checkout needs no build step.
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli.js', import.meta.url);
await import(existsSync(built) ? built.href : new URL('../src/cli.ts', import.meta.url).href);
