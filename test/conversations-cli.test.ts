/**
 * `sealpost send` and `sealpost read` as a user runs them (child processes of the repository's
 * Node 24, each with its own home), against a real server: a 1:1 conversation created on first
 * send, read back across separate runs (state restored from the encrypted file), and that file
 * does not hold the plaintext.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { SqliteStore } from '../packages/server/src/store/sqlite.ts';
import { startInstance, type Instance } from './support/harness.ts';

const root = resolve(import.meta.dirname, '..');
const PASSPHRASE = 'a passphrase for tests';
let scratch = '';
let node: Instance;
let store: SqliteStore;

function sealpost(
  home: string,
  args: readonly string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('SEALPOST_') && v !== undefined) env[k] = v;
  const child = spawn(
    join(root, 'node_modules/.bin/node'),
    [join(root, 'packages/cli/src/main.ts'), '--home', home, ...args],
    {
      cwd: root,
      env: { ...env, HOME: scratch, SEALPOST_PASSPHRASE: PASSPHRASE },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((res) => child.once('close', (status) => res({ status, stdout, stderr })));
}

async function ok(home: string, args: readonly string[]): Promise<string> {
  const run = await sealpost(home, args);
  assert.equal(run.status, 0, `sealpost ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'sealpost-chat-'));
  store = SqliteStore.open(':memory:');
  await store.migrate();
  node = await startInstance(store);
});
after(async () => {
  await node.close();
  await store.close();
  rmSync(scratch, { recursive: true, force: true });
});

test('send creates a 1:1 conversation; read prints what arrived, across runs', async () => {
  const alice = mkdtempSync(join(scratch, 'alice-'));
  const bob = mkdtempSync(join(scratch, 'bob-'));
  await ok(alice, ['account', 'create', 'alice', '--server', node.url]);
  await ok(bob, ['account', 'create', 'bob', '--server', node.url]);
  // Bob's first run puts his KeyPackages on the server.
  assert.equal(await ok(bob, ['read']), '');

  assert.equal(await ok(alice, ['send', 'bob', 'hello Bob \u001b[31m']), 'sent to bob\n');
  assert.equal(await ok(bob, ['read']), 'alice: hello Bob ?[31m\n');
  assert.equal(await ok(bob, ['read']), '', 'nothing new');

  assert.equal(await ok(bob, ['send', 'alice', 'hi Alice']), 'sent to alice\n');
  assert.equal(await ok(alice, ['send', 'bob', 'second']), 'sent to bob\n');
  assert.equal(await ok(alice, ['read']), 'bob: hi Alice\n');
  assert.equal(await ok(bob, ['read']), 'alice: second\n');

  for (const home of [alice, bob]) {
    const file = readFileSync(join(home, 'conversations.spcs'));
    for (const plain of ['hello Bob', 'hi Alice', 'second']) {
      assert.equal(file.includes(Buffer.from(plain)), false, `${plain} not in ${home}`);
    }
  }
});

test('send to a user without devices ready is a typed error', async () => {
  const carol = mkdtempSync(join(scratch, 'carol-'));
  await ok(carol, ['account', 'create', 'carol', '--server', node.url]);
  const run = await sealpost(carol, ['send', 'nobody', 'hi']);
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /^error VALIDATION_FAILED: nobody has no device ready/m);
});
