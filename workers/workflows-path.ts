// Where the workflow code the worker runs lives (bundled by webpack, never imported directly),
// and where `npm run build` puts its bundle.
import { extname, join } from 'node:path';

/** True when this is the compiled JavaScript of `npm run build` (dist/), not the TypeScript source run by tsx. */
export const RUNNING_FROM_BUILD = extname(__filename) === '.js';

export const WORKFLOWS_PATH = join(__dirname, '..', 'workflows', `index${RUNNING_FROM_BUILD ? '.js' : '.ts'}`);

/** The workflow bundle `npm run build` writes next to the compiled code (dist/workflow-bundle.js). */
export const BUILT_WORKFLOW_BUNDLE = 'workflow-bundle.js';
export const BUILT_WORKFLOW_BUNDLE_PATH = join(__dirname, '..', BUILT_WORKFLOW_BUNDLE);
