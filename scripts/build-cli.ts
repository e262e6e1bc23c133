/**
 * Bundles the `sealpost` CLI with esbuild into plain JavaScript, which `npm run sealpost` runs
 * (npm runs this first, and `prepare` at install):
 *
 *   dist/cli/
 *     sealpost.mjs               packages/cli/src/main.ts, with every dependency
 *     backup-worker.mjs          packages/client/node/backup-workers.ts: a backup worker thread
 *     sqlite-thread-worker.mjs   packages/server/src/store/sqlite-thread-worker.ts: the server's store thread
 *
 * Why: run from .ts, Node loads its type stripper into the process and again into each worker
 * thread; `backup --help` peaked at 116 MiB RSS from source against 80 MiB from a bundle, and a
 * worker thread cost ~50 MiB against ~20 MiB.
 *
 * The workers are bundles of their own, beside the CLI's: inside a bundle `import.meta.url` is the
 * bundle's, so the files that start a worker take its name from a constant defined here
 * (SEALPOST_BACKUP_WORKER, SEALPOST_SQLITE_WORKER; undefined when run from source).
 *
 * Each file is written under a temporary name and renamed, workers first, so that a CLI started
 * while another build runs reads whole files.
 *
 * Usage: node scripts/build-cli.ts [--outdir <dir>] [--quiet]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');

/** Output name (without .mjs) -> entry point. The CLI's entry is last: it is written last. */
const ENTRIES = {
  'backup-worker': 'packages/client/node/backup-workers.ts',
  'sqlite-thread-worker': 'packages/server/src/store/sqlite-thread-worker.ts',
  sealpost: 'packages/cli/src/main.ts',
} as const;

/**
 * Bundled CommonJS dependencies (commander, cli-progress, ...) call `require` for Node's own
 * modules, which an ES module does not have: esbuild's stand-in throws "Dynamic require of ... is
 * not supported" unless a `require` is in scope.
 */
const REQUIRE_BANNER =
  "import { createRequire as __sealpostCreateRequire } from 'node:module';\n" +
  'const require = __sealpostCreateRequire(import.meta.url);';

const { values } = parseArgs({
  options: {
    outdir: { type: 'string', default: join(root, 'dist/cli') },
    quiet: { type: 'boolean', default: false },
  },
});
const outdir = resolve(values.outdir);
const started = performance.now();

const result = await build({
  absWorkingDir: root,
  entryPoints: Object.entries(ENTRIES).map(([out, entry]) => ({ in: entry, out })),
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  banner: { js: REQUIRE_BANNER },
  define: {
    SEALPOST_BACKUP_WORKER: JSON.stringify(`./backup-worker.mjs`),
    SEALPOST_SQLITE_WORKER: JSON.stringify(`./sqlite-thread-worker.mjs`),
  },
  // Readable stack traces; and errors name themselves after their class (`new.target.name`,
  // packages/core/src/errors.ts), which esbuild would otherwise rename when two classes share a name.
  minify: false,
  keepNames: true,
  write: false,
  logLevel: 'warning',
});

mkdirSync(outdir, { recursive: true });
const byName = new Map(result.outputFiles.map((f) => [basename(f.path), f]));
let bytes = 0;
for (const name of Object.keys(ENTRIES)) {
  const file = byName.get(`${name}.mjs`);
  if (file === undefined) throw new Error(`esbuild wrote no ${name}.mjs`);
  const temporary = join(outdir, `.${name}.mjs.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeFileSync(temporary, file.contents);
    renameSync(temporary, file.path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  bytes += file.contents.byteLength;
}

if (!values.quiet) {
  const ms = Math.round(performance.now() - started);
  const where = relative(process.cwd(), outdir) || '.';
  console.log(`built ${where}/ (${byName.size} files, ${(bytes / 1024).toFixed(0)} KiB) in ${ms} ms`);
}
