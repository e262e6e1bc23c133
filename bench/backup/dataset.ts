/**
 * The backup benchmark's default data set, which no one here wrote: Debian's kernel source (the
 * package the `linux-source` meta-package depends on, its tarball unpacked) plus a few binary
 * packages (shared libraries, a compiler, a database server), about 1.6 GB in ~85,000 files.
 *
 *   <cache>/debs/*.deb        `apt-get download` of the packages
 *   <cache>/debian/<package>/  each package unpacked by `dpkg-deb -x` (the kernel tarball extracted)
 *   <cache>/debian/.complete   written last: the tree is whole
 *
 * The cache sits under bench/.cache/ (gitignored) and is made once; later runs reuse it.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';

/** Binary packages beside the kernel source (Debian 12 names). */
const BINARY_PACKAGES = ['libllvm15', 'gcc-12', 'libicu72', 'postgresql-15', 'libgl1-mesa-dri'];

function run(cmd: string, args: readonly string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `linux-source-X.Y`, the versioned package `linux-source` depends on. */
function kernelSourcePackage(): string {
  const m = /Depends: (linux-source-[0-9.]+)/.exec(run('apt-cache', ['depends', 'linux-source']));
  if (m === null) throw new Error('apt-cache finds no linux-source-X.Y package (run apt-get update?)');
  return m[1]!;
}

/** Downloads and unpacks the data set into `<cache>/debian` unless it is there; returns that path. */
export async function debianDataSet(cache: string): Promise<string> {
  const tree = join(cache, 'debian');
  if (
    await fs.stat(join(tree, '.complete')).then(
      () => true,
      () => false,
    )
  )
    return tree;
  const packages = [kernelSourcePackage(), ...BINARY_PACKAGES];
  const debs = join(cache, 'debs');
  await fs.mkdir(debs, { recursive: true });
  const have = await fs.readdir(debs);
  const missing = packages.filter((p) => !have.some((f) => f.startsWith(`${p}_`)));
  if (missing.length > 0) {
    console.log(`downloading ${missing.join(' ')} (apt-get download)`);
    run('apt-get', ['download', ...missing], debs);
  }
  await fs.rm(tree, { recursive: true, force: true });
  for (const p of packages) {
    const deb = (await fs.readdir(debs)).find((f) => f.startsWith(`${p}_`) && f.endsWith('.deb'));
    if (deb === undefined) throw new Error(`apt-get download left no .deb for ${p}`);
    console.log(`unpacking ${deb}`);
    const into = join(tree, p);
    await fs.mkdir(into, { recursive: true });
    run('dpkg-deb', ['-x', join(debs, deb), into]);
    if (p.startsWith('linux-source-')) {
      // The package ships the source as usr/src/linux-source-X.Y.tar.xz: unpack it in its place.
      const src = join(into, 'usr', 'src');
      for (const tarball of (await fs.readdir(src)).filter((f) => f.endsWith('.tar.xz'))) {
        run('tar', ['-xJf', tarball], src);
        await fs.rm(join(src, tarball));
      }
    }
  }
  await fs.writeFile(join(tree, '.complete'), packages.join('\n') + '\n');
  return tree;
}
