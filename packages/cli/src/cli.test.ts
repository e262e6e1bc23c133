/**
 * The `sealpost` command run as a user runs it: a child process of the repository's Node 24, with
 * its own home directory, stdin not a terminal, and SEALPOST_PASSPHRASE for the passphrase.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Username } from '@sealpost/core';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { sealKeystore } from '@sealpost/client';
import type { ServerUrl } from '@sealpost/client';
import { SCHEMA, loadConfig, startServer } from '@sealpost/server';

const root = resolve(import.meta.dirname, '../../..');
const PASSPHRASE = 'a passphrase for tests';

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `sealpost <args>` with a clean SEALPOST_* environment plus `env`. */
function sealpost(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('SEALPOST_') && v !== undefined) base[k] = v;
  const child = spawn(
    join(root, 'node_modules/.bin/node'),
    [join(root, 'packages/cli/src/main.ts'), ...args],
    {
      cwd: root,
      env: { ...base, HOME: scratch, ...env },
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

let scratch = '';
before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sealpost-cli-'));
});
after(() => rmSync(scratch, { recursive: true, force: true }));

function freshHome(): string {
  return mkdtempSync(join(scratch, 'home-'));
}

describe('sealpost arguments', () => {
  const cases: ReadonlyArray<readonly [string, readonly string[], string]> = [
    [
      'an invalid username',
      ['account', 'create', 'no way!', '--server', 'http://127.0.0.1:1'],
      'USERNAME_INVALID',
    ],
    [
      'a too short username',
      ['account', 'create', 'ab', '--server', 'http://127.0.0.1:1'],
      'USERNAME_INVALID',
    ],
    [
      'a server URL of another scheme',
      ['account', 'create', 'alice', '--server', 'ftp://x'],
      'VALIDATION_FAILED',
    ],
    [
      'a server URL that is not a URL',
      ['account', 'create', 'alice', '--server', 'nope'],
      'VALIDATION_FAILED',
    ],
    [
      'a server URL with a password',
      ['account', 'create', 'alice', '--server', 'http://u:pw@x'],
      'VALIDATION_FAILED',
    ],
    ['a missing --server', ['account', 'create', 'alice'], 'VALIDATION_FAILED'],
    ['an unknown command', ['frobnicate'], 'VALIDATION_FAILED'],
    ['an unknown option', ['account', 'show', '--colour'], 'VALIDATION_FAILED'],
    ['a malformed device id', ['account', 'devices', 'remove', 'not*base64'], 'CODEC_INVALID_VALUE'],
    ['a device id of the wrong length', ['account', 'devices', 'remove', 'AAAA'], 'CODEC_INVALID_VALUE'],
    ['a bad port', ['serve', '--port', 'eighty', '--print-config'], 'CONFIG_INVALID'],
    ['postgres without a database URL', ['serve', '--store', 'postgres', '--print-config'], 'CONFIG_INVALID'],
  ];
  for (const [name, args, code] of cases) {
    it(`should refuse ${name} with ${code} and exit 1`, async () => {
      const run = await sealpost(['--home', freshHome(), ...args], { SEALPOST_PASSPHRASE: PASSPHRASE });
      assert.equal(run.status, 1, run.stderr);
      assert.match(run.stderr, new RegExp(`^error ${code}: \\S`, 'm'));
      assert.equal(run.stdout, '');
    });
  }

  it('should print help and exit 0', async () => {
    const run = await sealpost(['--help']);
    assert.equal(run.status, 0);
    assert.match(run.stdout, /Usage: sealpost/);
  });

  it('should say where the key store is missing', async () => {
    const home = freshHome();
    const run = await sealpost(['--home', home, 'account', 'show'], { SEALPOST_PASSPHRASE: PASSPHRASE });
    assert.equal(run.status, 1);
    assert.ok(run.stderr.includes(join(home, 'keystore.spks')));
  });
});

describe('sealpost serve --print-config', () => {
  it('should print the configuration with the database password redacted', async () => {
    const run = await sealpost(['serve', '--print-config', '--store', 'postgres', '--port', '9999'], {
      SEALPOST_DATABASE_URL: 'postgres://sealpost:hunter2secret@db.internal:5432/sealpost',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(!run.stdout.includes('hunter2secret') && !run.stderr.includes('hunter2secret'));
    const config = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.equal(config['port'], 9999);
    assert.equal(config['store'], 'postgres');
    assert.match(String(config['databaseUrl']), /^postgres:\/\/sealpost:\*\*\*@db\.internal:5432\/sealpost$/);
  });

  it('should take flags over environment variables', async () => {
    const run = await sealpost(['serve', '--print-config', '--log-level', 'warn'], {
      SEALPOST_LOG_LEVEL: 'debug',
    });
    assert.equal((JSON.parse(run.stdout) as Record<string, unknown>)['logLevel'], 'warn');
  });
});

describe('sealpost with a local key store and no server', () => {
  let home = '';
  before(async () => {
    home = freshHome();
    const sealed = await sealKeystore(
      crypto,
      {
        username: 'carol' as Username,
        serverUrl: 'http://127.0.0.1:1' as ServerUrl,
        accountSeed: new Uint8Array(32).fill(3),
        deviceSeed: new Uint8Array(32).fill(4),
      },
      new TextEncoder().encode(PASSPHRASE),
      { memoryKiB: 64, iterations: 1, parallelism: 1 },
    );
    writeFileSync(join(home, 'keystore.spks'), sealed, { mode: 0o600 });
  });

  it('should show the account as JSON without any secret', async () => {
    const run = await sealpost(['--home', home, 'account', 'show', '--json'], {
      SEALPOST_PASSPHRASE: PASSPHRASE,
    });
    assert.equal(run.status, 0, run.stderr);
    const view = JSON.parse(run.stdout) as Record<string, string>;
    assert.equal(view['username'], 'carol');
    assert.equal(view['server'], 'http://127.0.0.1:1');
    assert.match(view['deviceId']!, /^[A-Za-z0-9_-]{11}$/);
    assert.match(view['accountKeyFingerprint']!, /^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
    assert.ok(!run.stdout.includes(PASSPHRASE));
    assert.ok(!run.stdout.includes('AwMDAwMD'), 'no seed in output');
  });

  it('should find the home in SEALPOST_HOME', async () => {
    const run = await sealpost(['account', 'show'], { SEALPOST_PASSPHRASE: PASSPHRASE, SEALPOST_HOME: home });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /username\s+carol/);
  });

  it('should refuse a wrong passphrase with exit 2 and not print it', async () => {
    const run = await sealpost(['--home', home, 'account', 'show'], {
      SEALPOST_PASSPHRASE: 'not the passphrase',
    });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /^error KEYSTORE_PASSPHRASE_WRONG: /);
    assert.ok(!run.stderr.includes('not the passphrase'));
  });

  it('should stop with a clear error without a terminal or SEALPOST_PASSPHRASE', async () => {
    const run = await sealpost(['--home', home, 'account', 'show']);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /^error VALIDATION_FAILED: .*SEALPOST_PASSPHRASE/);
  });

  it('should exit 3 when the server cannot be reached', async () => {
    const run = await sealpost(['--home', home, 'account', 'devices'], { SEALPOST_PASSPHRASE: PASSPHRASE });
    assert.equal(run.status, 3, run.stderr);
    assert.match(run.stderr, /^error NOT_READY: /);
  });

  it('should not put a key store in place when registration did not happen', async () => {
    const fresh = freshHome();
    const run = await sealpost(
      ['--home', fresh, 'account', 'create', 'dave', '--server', 'http://127.0.0.1:1'],
      {
        SEALPOST_PASSPHRASE: PASSPHRASE,
      },
    );
    assert.equal(run.status, 3, run.stderr);
    assert.ok(!existsSync(join(fresh, 'keystore.spks')));
  });

  it('should refuse a short passphrase for a new key store', async () => {
    const run = await sealpost(
      ['--home', freshHome(), 'account', 'create', 'dave', '--server', 'http://127.0.0.1:1'],
      {
        SEALPOST_PASSPHRASE: 'short',
      },
    );
    assert.equal(run.status, 1);
    assert.match(run.stderr, /^error VALIDATION_FAILED: passphrase must be at least/);
  });
});

describe('sealpost against a live server', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let dataDir: string;
  before(async () => {
    dataDir = mkdtempSync(join(scratch, 'data-'));
    server = await startServer(
      loadConfig({ env: {}, flags: { port: 0, adminPort: -1, dataDir, logLevel: 'silent' } }),
    );
  });
  after(() => server.close());

  it('should create an account, show it, list and refuse to remove its only device', async () => {
    const home = join(freshHome(), 'nested');
    const env = { SEALPOST_PASSPHRASE: PASSPHRASE };
    const username = `erin${Date.now().toString(36)}`;

    const created = await sealpost(
      ['--home', home, 'account', 'create', username, '--server', server.url],
      env,
    );
    assert.equal(created.status, 0, created.stderr);
    assert.match(created.stdout, new RegExp(`Created account ${username}`));
    const keystore = join(home, 'keystore.spks');
    assert.equal(statSync(keystore).mode & 0o777, 0o600);
    assert.equal(statSync(home).mode & 0o777, 0o700);
    // The key store, the encrypted conversation state (own device-list version, KeyPackages) and
    // the key directory's pinned key and memory; no temporary file left behind.
    assert.deepEqual(readdirSync(home).sort(), [
      'conversations.spcs',
      'directory-memory.json',
      'directory-trust.json',
      'keystore.spks',
    ]);

    const again = await sealpost(
      ['--home', home, 'account', 'create', username, '--server', server.url],
      env,
    );
    assert.equal(again.status, 1);
    assert.match(again.stderr, /^error DEVICE_EXISTS: /);

    const elsewhere = await sealpost(
      ['--home', freshHome(), 'account', 'create', username, '--server', server.url],
      env,
    );
    assert.equal(elsewhere.status, 1);
    assert.match(elsewhere.stderr, /^error USERNAME_TAKEN: /);

    const shown = await sealpost(['--home', home, 'account', 'show', '--json'], env);
    assert.equal(shown.status, 0, shown.stderr);
    const view = JSON.parse(shown.stdout) as Record<string, string>;
    assert.equal(view['username'], username);
    assert.equal(view['server'], server.url);

    const listed = await sealpost(['--home', home, 'account', 'devices', '--json'], env);
    assert.equal(listed.status, 0, listed.stderr);
    const devices = JSON.parse(listed.stdout) as { devices: { deviceId: string; thisDevice: boolean }[] };
    assert.deepEqual(
      devices.devices.map((d) => [d.deviceId, d.thisDevice]),
      [[view['deviceId'], true]],
    );

    const text = await sealpost(['--home', home, 'account', 'devices'], env);
    assert.match(text.stdout, new RegExp(`^${view['deviceId']} .*\\(this device\\)$`, 'm'));

    const removed = await sealpost(['--home', home, 'account', 'devices', 'remove', view['deviceId']!], env);
    // Refused before any request: a device is removed from another device of the account (it
    // must leave its conversations and the published device list by someone else's commit).
    assert.equal(removed.status, 1);
    assert.match(removed.stderr, /^error VALIDATION_FAILED: remove this device from another device/);

    const unknown = await sealpost(['--home', home, 'account', 'devices', 'remove', 'AAAAAAAAAAA'], env);
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /^error DEVICE_NOT_FOUND: /);
  });

  it('should disclose what the server stores about an account, and refuse an unknown one', async () => {
    const username = `fay${Date.now().toString(36)}`;
    const env = { SEALPOST_PASSPHRASE: PASSPHRASE };
    const created = await sealpost(
      ['--home', freshHome(), 'account', 'create', username, '--server', server.url],
      env,
    );
    assert.equal(created.status, 0, created.stderr);
    const json = await sealpost(['disclose', username, '--data-dir', dataDir, '--json']);
    assert.equal(json.status, 0, json.stderr);
    const d = JSON.parse(json.stdout) as { tables: Record<string, Record<string, unknown>[]> };
    // Exactly the allow-listed tables tied to an account (schema.ts `linkedBy`).
    const linked = SCHEMA.filter((t) => t.linkedBy !== 'none').map((t) => t.name);
    assert.ok(linked.includes('devices') && linked.includes('mailbox'));
    assert.deepEqual(Object.keys(d.tables).sort(), linked.sort());
    assert.equal(d.tables['accounts']![0]!['username'], username);
    assert.equal(d.tables['devices']!.length, 1);
    const text = await sealpost(['disclose', username, '--data-dir', dataDir]);
    assert.match(text.stdout, /^devices: 1 row/m);
    assert.match(text.stdout, /Not stored at all: IP addresses/);
    const unknown = await sealpost(['disclose', 'nobodyhere', '--data-dir', dataDir]);
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /^error ACCOUNT_NOT_FOUND: /);
  });
});
