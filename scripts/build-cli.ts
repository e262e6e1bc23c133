/**
 * Bundles the `sealpost` CLI with esbuild into plain JavaScript, which `npm run sealpost` runs
 * (npm runs this first, and `prepare` at install):
 *
 *   dist/cli/
 *     sealpost.mjs               packages/cli/src/main.ts, with every dependency
 *     backup-worker.mjs          packages/client/node/backup-workers.ts: a backup worker thread
 *     sqlite-thread-worker.mjs   packages/server/src/store/sqlite-thread-worker.ts: the server's store thread
 *     <name>-<hash>.mjs          chunks: code the entries share, and each command group's
 *                                (esbuild's splitting: main.ts imports a group only when its
 *                                command runs, so a backup loads no server code; ~60 MiB less
 *                                peak RSS). Beside the entries, not in a folder of their own: the
 *                                worker names below are resolved against the running file's URL,
 *                                which may be a chunk's.
 *
 * Why: run from .ts, Node loads its type stripper into the process and again into each worker
 * thread; `backup --help` peaked at 116 MiB RSS from source against 80 MiB from a bundle, and a
 * worker thread cost ~50 MiB against ~20 MiB.
 *
 * The workers are bundles of their own, beside the CLI's: inside a bundle `import.meta.url` is the
 * bundle's, so the files that start a worker take its name from a constant defined here
 * (SEALPOST_BACKUP_WORKER, SEALPOST_SQLITE_WORKER; undefined when run from source).
 *
 * Each file is written under a temporary name and renamed, chunks first and the CLI last, so that
 * a CLI started while another build runs reads whole files; chunks no entry of this build uses are
 * removed at the end (a CLI started before may still want one: it then fails to start, once).
 *
 * Usage: node scripts/build-cli.ts [--outdir <dir>] [--quiet]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
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
  splitting: true,
  chunkNames: '[name]-[hash]',
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
/** Writes one output file under a temporary name, then renames it into place. */
const place = (path: string, contents: Uint8Array) => {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeFileSync(temporary, contents);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
};
const entryFiles = new Set(Object.keys(ENTRIES).map((name) => join(outdir, `${name}.mjs`)));
for (const name of Object.keys(ENTRIES)) {
  if (!result.outputFiles.some((f) => f.path === join(outdir, `${name}.mjs`)))
    throw new Error(`esbuild wrote no ${name}.mjs`);
}
let bytes = 0;
const chunks = result.outputFiles.filter((f) => !entryFiles.has(f.path));
for (const file of chunks) place(file.path, file.contents);
for (const name of Object.keys(ENTRIES)) {
  const file = result.outputFiles.find((f) => f.path === join(outdir, `${name}.mjs`))!;
  place(file.path, file.contents);
}
for (const file of result.outputFiles) bytes += file.contents.byteLength;
const current = new Set(result.outputFiles.map((f) => basename(f.path)));
for (const name of readdirSync(outdir)) {
  if (name.endsWith('.mjs') && !current.has(name)) rmSync(join(outdir, name), { force: true });
}
const byName = result.outputFiles;

if (!values.quiet) {
  const ms = Math.round(performance.now() - started);
  const where = relative(process.cwd(), outdir) || '.';
  console.log(`built ${where}/ (${byName.length} files, ${(bytes / 1024).toFixed(0)} KiB) in ${ms} ms`);
}
