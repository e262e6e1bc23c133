/**
 * The README's promise, run as a user would: `npm start` brings up a server on the embedded SQLite
 * store, prints its URL, serves /healthz with 200, keeps /metrics on the loopback admin listener
 * only, and on SIGTERM drains: live sockets are closed with 1001 and the process exits 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CLOSE } from '@sealpost/core';
import { createDevice, rawSocket } from './support/harness.ts';

const root = resolve(import.meta.dirname, '..');

test('npm start serves /healthz with 200 on the embedded store and drains on SIGTERM', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-start-'));
  const child = spawn('npm', ['start', '--silent'], {
    cwd: root,
    env: { ...process.env, SEALPOST_PORT: '0', SEALPOST_ADMIN_PORT: '0', SEALPOST_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    let out = '';
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const urls = await new Promise<{ url: string; admin: string }>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`no URL printed within 30 s: ${out}`)), 30_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/[^\s]+) \(admin (http:\/\/[^\s)]+)\)/.exec(out);
        if (m) {
          clearTimeout(timer);
          res({ url: m[1]!, admin: m[2]! });
        }
      });
      child.once('exit', (code) => rej(new Error(`npm start exited with ${code}: ${out}`)));
    });
    const health = await fetch(`${urls.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    assert.equal((await fetch(`${urls.url}/readyz`)).status, 200);
    assert.ok(existsSync(join(dataDir, 'sealpost.db')), 'SQLite store created in the data dir');

    assert.equal((await fetch(`${urls.url}/metrics`)).status, 404, '/metrics is not public');
    const metrics = await (await fetch(`${urls.admin}/metrics`)).text();
    assert.match(metrics, /sealpost_ws_connections/);
    assert.equal(new URL(urls.admin).hostname, '127.0.0.1');

    await createDevice(urls.url, `term${Date.now().toString(36)}`);
    const raw = await rawSocket(urls.url);
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    child.kill('SIGTERM');
    assert.equal((await raw.closed).code, CLOSE.goingAway);
    assert.equal(await exited, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});
