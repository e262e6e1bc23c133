/**
 * Repository keys (packages/client/src/backup/keys.ts) on the server's blob store: an account's
 * repository opens with the account seed, and a new machine holding only the recovery code restores
 * every snapshot; changing a passphrase rewrites one key file and no data object.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { SealpostError } from '@sealpost/core';
import {
  generateRecoverySecret,
  parseRecoveryCode,
  recoveryCodeOf,
} from '@sealpost/core/identity/recovery-key';
import { ServerApi } from '../packages/client/src/account-api.ts';
import { HttpRepository } from '../packages/client/node/backup-http-repo.ts';
import { nodeBackupDeps } from '../packages/client/node/backup-node.ts';
import { backup } from '../packages/client/src/backup/backup.ts';
import {
  ACCOUNT_KEY_FILE_PARAMS,
  accountKeySecret,
  changeKey,
  initAccountRepository,
} from '../packages/client/src/backup/keys.ts';
import { recoveryBoxKey } from '@sealpost/core/backup/recovery-key-file';
import { addKeyWithRecovery, openRepositoryWithRecovery } from '../packages/client/src/backup/recovery.ts';
import type { ObjectKind } from '../packages/client/src/backup/repository.ts';
import { restore } from '../packages/client/src/backup/restore.ts';
import { initRepository, openRepository } from '../packages/client/src/backup/session.ts';
import { listSnapshots } from '../packages/client/src/backup/snapshots.ts';
import { assertSameTree, makeTree } from './support/backup-trees.ts';
import { createDevice, crypto, type TestDevice } from './support/harness.ts';
import { serverFixture } from './support/server-fixture.ts';

const TEST_ARGON2 = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
const deps = nodeBackupDeps();
const isError = (code: string) => (e: unknown) => e instanceof SealpostError && e.code === code;

const fixture = serverFixture('sealpost-keys-');

function repoOf(device: { username: string; deviceSeed: Uint8Array }) {
  return new HttpRepository({
    serverUrl: fixture.instance.url,
    username: device.username,
    deviceSeed: device.deviceSeed,
    crypto,
  });
}

async function names(repo: HttpRepository, kind: ObjectKind): Promise<string[]> {
  return (await repo.list(kind)).map((o) => o.name).sort();
}

test('a new machine with only the recovery code restores every snapshot of the account', async () => {
  const device: TestDevice = await createDevice(fixture.instance.url, 'recovered');
  const recoverySecret = generateRecoverySecret(crypto);
  const code = recoveryCodeOf(crypto, recoverySecret);
  const repo = repoOf(device);
  // The device that creates the repository holds only the recovery public key (its key store's).
  const recoveryPublicKey = recoveryBoxKey(crypto, recoverySecret).publicKey;
  recoverySecret.fill(0);
  await initAccountRepository(repo, deps, { accountSeed: device.accountSeed, recoveryPublicKey });
  assert.equal((await repo.list('keys')).length, 2);

  const source = join(fixture.work, 'src-recovery');
  await makeTree(source, 2);
  const secret = accountKeySecret(crypto, device.accountSeed);
  const session = await openRepository(repo, deps, secret);
  const first = await backup(session, source, { hostname: 'old-laptop' });
  await fs.writeFile(join(source, 'docs', 'later.txt'), 'written after the first snapshot\n');
  const second = await backup(session, source, { hostname: 'old-laptop' });
  session.close();

  // The new machine: a fresh device key on the account (enrolment is the account's business, not
  // the repository's), and nothing of the old machine but the printed recovery code.
  const newDeviceSeed = new Uint8Array(randomBytes(32));
  await new ServerApi(fixture.instance.url, crypto).addDevice({
    username: device.username,
    accountSeed: device.accountSeed,
    deviceSeed: newDeviceSeed,
  });
  const fresh = repoOf({ username: device.username, deviceSeed: newDeviceSeed });
  const typed = code.toLowerCase().replaceAll('-', ' ');
  const fromCode = parseRecoveryCode(crypto, typed);
  const recovered = await openRepositoryWithRecovery(fresh, deps, fromCode);
  try {
    const snapshots = await listSnapshots(recovered);
    assert.deepEqual(
      snapshots.map((s) => s.id),
      [first.snapshotId, second.snapshotId],
    );
    const target = join(fixture.work, 'recovered');
    await restore(recovered, second.snapshotId, target);
    await assertSameTree(source, target);
  } finally {
    recovered.close();
  }

  // It then gives its own (new) account key a key file, and opens with that from now on.
  const newAccountSeed = new Uint8Array(randomBytes(32));
  await addKeyWithRecovery(
    fresh,
    deps,
    fromCode,
    accountKeySecret(crypto, newAccountSeed),
    ACCOUNT_KEY_FILE_PARAMS,
  );
  (await openRepository(fresh, deps, accountKeySecret(crypto, newAccountSeed))).close();

  // Another recovery code opens nothing; a mistyped one is refused before any key file is tried.
  const other = generateRecoverySecret(crypto);
  await assert.rejects(openRepositoryWithRecovery(fresh, deps, other), isError('KEYSTORE_PASSPHRASE_WRONG'));
  const typo = (code[0] === 'A' ? 'B' : 'A') + code.slice(1);
  assert.throws(() => parseRecoveryCode(crypto, typo), isError('IDENTITY_RECOVERY_CODE_INVALID'));
});

test('changing the passphrase replaces one key file and re-encrypts no data', async () => {
  const device = await createDevice(fixture.instance.url, 'rekeyed');
  const repo = repoOf(device);
  await initRepository(repo, deps, 'first passphrase', TEST_ARGON2);
  const source = join(fixture.work, 'src-rekey');
  await makeTree(source, 1);
  const session = await openRepository(repo, deps, 'first passphrase');
  const { snapshotId } = await backup(session, source, { hostname: 'h' });
  session.close();

  const before = {
    keys: await names(repo, 'keys'),
    packs: await names(repo, 'packs'),
    index: await names(repo, 'index'),
    snapshots: await names(repo, 'snapshots'),
  };
  const newKey = await changeKey(repo, deps, 'first passphrase', 'second passphrase', TEST_ARGON2);
  assert.deepEqual(await names(repo, 'keys'), [newKey]);
  assert.notDeepEqual([newKey], before.keys);
  for (const kind of ['packs', 'index', 'snapshots'] as const) {
    assert.deepEqual(await names(repo, kind), before[kind], `${kind} unchanged`);
  }

  await assert.rejects(openRepository(repo, deps, 'first passphrase'), isError('KEYSTORE_PASSPHRASE_WRONG'));
  await assert.rejects(
    changeKey(repo, deps, 'first passphrase', 'third', TEST_ARGON2),
    isError('KEYSTORE_PASSPHRASE_WRONG'),
  );
  const reopened = await openRepository(repo, deps, 'second passphrase');
  try {
    const target = join(fixture.work, 'rekeyed');
    await restore(reopened, snapshotId, target);
    await assertSameTree(source, target);
  } finally {
    reopened.close();
  }
});
