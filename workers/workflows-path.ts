// Where the workflow code the worker runs lives (bundled by webpack, never imported directly).
import { join } from 'node:path';

export const WORKFLOWS_PATH = join(__dirname, '..', 'workflows', 'index.ts');
