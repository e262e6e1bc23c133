/**
 * `--at <commit>`: run Sealpost as committed rather than as the working tree has it (others may be
 * mid-change there, and two commits can be compared). The commit's packages/, scripts/ and
 * package.json are unpacked with `git archive` into <cache>/sealpost-<commit>/, beside a
 * node_modules whose entries link to the repository's own, except @sealpost/*, which link to the
 * unpacked packages.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';

const exists = (path: string) =>
  fs.lstat(path).then(
    () => true,
    () => false,
  );

function hasPath(root: string, commit: string, path: string): boolean {
  try {
    execFileSync('git', ['cat-file', '-e', `${commit}:${path}`], { cwd: root, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The root of a runnable copy of `commit`'s packages; made once per commit. */
export async function checkout(root: string, cache: string, commit: string): Promise<string> {
  const sha = execFileSync('git', ['rev-parse', '--verify', `${commit}^{commit}`], {
    cwd: root,
    encoding: 'utf8',
  }).trim();
  const dir = join(cache, `sealpost-${sha.slice(0, 12)}`);
  if (await exists(join(dir, '.complete'))) return dir;
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  // scripts/ holds the CLI's bundler (scripts/build-cli.ts) since the CLI runs from a bundle;
  // commits before it may have no scripts/ at all.
  const scripts = hasPath(root, sha, 'scripts') ? ['scripts'] : [];
  const tar = execFileSync('git', ['archive', sha, 'packages', 'package.json', ...scripts], {
    cwd: root,
    maxBuffer: 1 << 30,
  });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  await fs.mkdir(join(dir, 'node_modules', '@sealpost'), { recursive: true });
  for (const name of await fs.readdir(join(root, 'node_modules'))) {
    if (name !== '@sealpost')
      await fs.symlink(join(root, 'node_modules', name), join(dir, 'node_modules', name));
  }
  for (const name of await fs.readdir(join(dir, 'packages'))) {
    await fs.symlink(join('..', '..', 'packages', name), join(dir, 'node_modules', '@sealpost', name));
    const own = join(root, 'packages', name, 'node_modules');
    if (await exists(own)) await fs.symlink(own, join(dir, 'packages', name, 'node_modules'));
  }
  await fs.writeFile(join(dir, '.complete'), sha + '\n');
  return dir;
}
