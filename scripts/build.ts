// `npm run build`: compiles the production code to dist/ (tsconfig.build.json) and bundles the
// workflow code once into dist/workflow-bundle.js, which the built worker loads instead of
// bundling at every start. Then checks that no compiled file loads a package that
// `npm ci --omit=dev` leaves out.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { bundleWorkflows } from '../workers/bundle-workflows';
import { BUILT_WORKFLOW_BUNDLE } from '../workers/workflows-path';

const root = join(__dirname, '..');
const dist = join(root, 'dist');
const step = (what: string) => console.error(`[build] ${what}`);

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`; relative and `node:` specifiers → undefined. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('node:') || specifier.startsWith('/')) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Compiled files that require or import() a devDependency (absent from a production install). */
function devImports(files: string[]): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  const devOnly = new Set(Object.keys(pkg.devDependencies).filter((name) => !(name in pkg.dependencies)));
  const found: string[] = [];
  for (const file of files) {
    for (const match of readFileSync(file, 'utf8').matchAll(/\b(?:require|import)\(\s*["'`]([^"'`]+)["'`]\s*\)/g)) {
      const name = packageOf(match[1]!);
      if (name && devOnly.has(name)) found.push(`${relative(root, file)}: ${match[1]}`);
    }
  }
  return found;
}

async function main() {
  step('removing dist/');
  rmSync(dist, { recursive: true, force: true });

  step('tsc -p tsconfig.build.json');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: 'inherit',
  });

  const compiled = filesUnder(dist).filter((f) => f.endsWith('.js'));
  const strays = ['src/local', 'src/cli', 'test'].filter((dir) => existsSync(join(dist, dir)));
  if (strays.length > 0) throw new Error(`production code imports development code: dist/${strays.join(', dist/')} was compiled`);
  const dev = devImports(compiled);
  if (dev.length > 0) throw new Error(`compiled code loads devDependencies:\n  ${dev.join('\n  ')}`);

  step(`bundling the workflow code into dist/${BUILT_WORKFLOW_BUNDLE}`);
  await bundleWorkflows(join(dist, BUILT_WORKFLOW_BUNDLE));

  step(
    `done: ${compiled.length} compiled files, ${Math.round(statSync(join(dist, BUILT_WORKFLOW_BUNDLE)).size / 1024)} KiB workflow bundle`,
  );
}

main().catch((error) => {
  console.error(`[build] failed: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
