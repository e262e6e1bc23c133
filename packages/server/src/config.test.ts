import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '@sealpost/core';
import { loadConfig, redactConfig } from './config.ts';

describe('loadConfig', () => {
  test('uses the documented defaults', () => {
    const c = loadConfig({ env: {}, flags: {} });
    assert.equal(c.store, 'sqlite');
    assert.equal(c.port, 8420);
    assert.equal(c.adminPort, 9420);
    assert.equal(c.dataDir, './data');
    assert.equal(c.bus, 'memory');
  });

  test('reads the SQLite thread switch from the environment', () => {
    assert.equal(loadConfig({ env: {}, flags: {} }).sqliteThread, false);
    assert.equal(loadConfig({ env: { SEALPOST_SQLITE_THREAD: 'true' }, flags: {} }).sqliteThread, true);
    assert.throws(() => loadConfig({ env: { SEALPOST_SQLITE_THREAD: 'maybe' }, flags: {} }), ConfigError);
  });

  test('reads witness keys as a comma-separated list, none by default', () => {
    const k1 = Buffer.alloc(32, 1).toString('base64url');
    const k2 = Buffer.alloc(32, 2).toString('base64url');
    assert.deepEqual(loadConfig({ env: {}, flags: {} }).witnessKeys, []);
    assert.deepEqual(loadConfig({ env: { SEALPOST_WITNESS_KEYS: `${k1}, ${k2}` }, flags: {} }).witnessKeys, [
      k1,
      k2,
    ]);
    assert.deepEqual(
      loadConfig({ env: { SEALPOST_WITNESS_KEYS: k1 }, flags: { witnessKeys: k2 } }).witnessKeys,
      [k2],
    );
  });

  test('flags win over environment, environment over defaults', () => {
    const c = loadConfig({
      env: { SEALPOST_PORT: '9000', SEALPOST_HOST: '0.0.0.0' },
      flags: { port: '9001' },
    });
    assert.equal(c.port, 9001);
    assert.equal(c.host, '0.0.0.0');
  });

  const bad: Array<[string, Record<string, string>]> = [
    ['a port out of range', { port: '70000' }],
    ['a port that is not a number', { port: 'eighty' }],
    ['an unknown store', { store: 'mysql' }],
    ['postgres without a database URL', { store: 'postgres' }],
    ['a database URL of another scheme', { store: 'postgres', databaseUrl: 'mysql://x' }],
    ['a NATS URL that is not one', { natsUrl: 'http://x' }],
    ['an unknown log level', { logLevel: 'loud' }],
    ['an unknown key', { colour: 'blue' }],
    ['a witness key that is not 32 bytes', { witnessKeys: Buffer.alloc(31).toString('base64url') }],
    ['a witness key that is not base64url', { witnessKeys: '!'.repeat(43) }],
    [
      'more witness keys than LIMITS.ktWitnessKeysMax',
      { witnessKeys: Array(65).fill(Buffer.alloc(32).toString('base64url')).join(',') },
    ],
  ];
  for (const [what, flags] of bad) {
    test(`refuses ${what} with a ConfigError`, () => {
      assert.throws(() => loadConfig({ env: {}, flags }), ConfigError);
    });
  }

  test('names every wrong key at once', () => {
    try {
      loadConfig({ env: {}, flags: { port: '-1', store: 'x' } });
      assert.fail('expected a ConfigError');
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /port/);
      assert.match(e.message, /store/);
    }
  });

  test('the error about a secret key never echoes its value', () => {
    try {
      loadConfig({ env: {}, flags: { store: 'postgres', databaseUrl: 'mysql://u:hunter2@db/x' } });
      assert.fail('expected a ConfigError');
    } catch (e) {
      assert.doesNotMatch((e as Error).message, /hunter2/);
    }
  });
});

describe('redactConfig', () => {
  test('hides the password of the database URL and keeps the rest', () => {
    const c = loadConfig({
      env: { SEALPOST_DATABASE_URL: 'postgres://sealpost:hunter2@db:5432/sealpost?sslmode=require' },
      flags: { store: 'postgres' },
    });
    const shown = JSON.stringify(redactConfig(c));
    assert.doesNotMatch(shown, /hunter2/);
    assert.match(shown, /db:5432/);
    assert.match(shown, /\*\*\*/);
  });

  test('hides a token in the NATS URL', () => {
    const c = loadConfig({ env: {}, flags: { natsUrl: 'nats://user:s3cret@nats:4222' } });
    assert.doesNotMatch(JSON.stringify(redactConfig(c)), /s3cret/);
  });
});
