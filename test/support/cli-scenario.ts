/**
 * The fixture of a file of `sealpost` scenarios: one real server (SQLite in memory) and a scratch
 * directory, the HOME of every child process and the parent of their homes (serverFixture: made
 * in node:test's `before`, removed in its `after`, so `scratch` and `node` are read inside tests).
 */
import { SqliteStore } from '../../packages/server/src/store/sqlite.ts';
import { ok } from './sealpost-cli.ts';
import { serverFixture } from './server-fixture.ts';
import type { Instance } from './harness.ts';

export interface CliScenario {
  readonly scratch: string;
  readonly node: Instance;
  /** `sealpost <args>` on `home`, HOME `scratch`: its stdout; fails the test on a non-zero status. */
  ok(home: string, args: readonly string[]): Promise<string>;
}

/** Registers the hooks; `prefix` names the scratch directory (`sealpost-chat-`). */
export function cliScenario(prefix: string): CliScenario {
  const fixture = serverFixture(prefix, async () => {
    const store = SqliteStore.open(':memory:');
    await store.migrate();
    return { store, cleanup: () => store.close() };
  });
  return {
    get scratch() {
      return fixture.work;
    },
    get node() {
      return fixture.instance;
    },
    ok: (home, args) => ok(fixture.work, home, args),
  };
}
