import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { ClaimTable } from './backup-claims.ts';

describe('ClaimTable', () => {
  test('the first claim of an id seals, every later one does not', () => {
    const table = new ClaimTable(16);
    const a = randomBytes(32);
    const b = randomBytes(32);
    assert.equal(table.claim(a), true);
    assert.equal(table.claim(a), false);
    assert.equal(table.claim(new Uint8Array(a)), false, 'by value, not by reference');
    assert.equal(table.claim(b), true);
    assert.equal(table.claim(b), false);
    assert.equal(table.count, 2);
  });

  test('ids that differ in one bit of their first 16 bytes are different claims', () => {
    const table = new ClaimTable(64);
    const id = randomBytes(32);
    assert.equal(table.claim(id), true);
    for (let bit = 0; bit < 128; bit += 9) {
      const other = Buffer.from(id);
      other[bit >> 3]! ^= 1 << (bit & 7);
      assert.equal(table.claim(other), true, `bit ${bit}`);
    }
  });

  test('ids that share a slot (the same first word) are told apart', () => {
    const table = new ClaimTable(8);
    const ids = [0, 1, 2, 3].map((i) => {
      const id = Buffer.alloc(32);
      id.writeUInt32LE(5, 0);
      id[20] = 9;
      id[4] = i + 1;
      return id;
    });
    for (const id of ids) assert.equal(table.claim(id), true);
    for (const id of ids) assert.equal(table.claim(id), false);
  });

  test('a table three quarters full seals every new id and claims no more', () => {
    const table = new ClaimTable(16);
    const ids = Array.from({ length: 12 }, () => randomBytes(32));
    for (const id of ids) assert.equal(table.claim(id), true);
    assert.equal(table.count, 12);
    const late = randomBytes(32);
    assert.equal(table.claim(late), true);
    assert.equal(table.claim(late), true, 'not claimed: sealed again');
    assert.equal(table.count, 12);
    for (const id of ids) assert.equal(table.claim(id), false, 'earlier claims hold');
  });

  test('an id whose first 16 bytes are zero (a free slot) is always sealed', () => {
    const table = new ClaimTable(16);
    const zero = new Uint8Array(32);
    zero[31] = 1;
    assert.equal(table.claim(zero), true);
    assert.equal(table.claim(zero), true);
    assert.equal(table.count, 0);
  });

  test('refuses a size that is not a power of two', () => {
    for (const slots of [0, 3, 100, 1.5, -4]) assert.throws(() => new ClaimTable(slots), RangeError);
  });

  test('two threads claiming the same ids at once: each id is claimed by exactly one', async () => {
    const ids = 20_000;
    const table = new ClaimTable(1 << 15);
    const shared = new Uint8Array(new SharedArrayBuffer(ids * 32));
    shared.set(randomBytes(ids * 32));
    const url = new URL('./backup-claims.ts', import.meta.url).href;
    const source = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(${JSON.stringify(url)}).then(({ ClaimTable }) => {
        const table = new ClaimTable(workerData.table);
        const ids = new Uint8Array(workerData.ids);
        const won = new Uint8Array(ids.length / 32);
        // Both threads go through the ids in the same order, so that they race for each one.
        for (let i = 0; i < won.length; i++) won[i] = table.claim(ids.subarray(i * 32, i * 32 + 32)) ? 1 : 0;
        parentPort.postMessage(won);
      });
    `;
    const run = () =>
      new Promise<Uint8Array>((resolve, reject) => {
        const worker = new Worker(source, {
          eval: true,
          workerData: { table: table.buffer, ids: shared.buffer },
        });
        worker.once('message', (won: Uint8Array) => {
          resolve(won);
          void worker.terminate();
        });
        worker.once('error', reject);
      });
    const [a, b] = await Promise.all([run(), run()]);
    let both = 0;
    let neither = 0;
    for (let i = 0; i < ids; i++) {
      if (a![i]! + b![i]! === 2) both++;
      if (a![i]! + b![i]! === 0) neither++;
    }
    assert.equal(both, 0, 'no id claimed twice');
    assert.equal(neither, 0, 'no id left unclaimed');
    assert.equal(table.count, ids);
  });
});
