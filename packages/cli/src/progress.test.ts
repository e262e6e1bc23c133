import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { formatBytes, progressBar } from './progress.ts';

/** A stream that keeps what is written; a terminal when `tty`. */
function sink(tty: boolean): Writable & { isTTY?: boolean; columns?: number; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return Object.assign(stream, { isTTY: tty, columns: 160, text: () => chunks.join('') });
}

test('formats bytes in binary units', () => {
  assert.deepEqual([0, 1023, 1024, 1536, 20 * 1024 ** 2, 3 * 1024 ** 4].map(formatBytes), [
    '0 B',
    '1023 B',
    '1.0 KiB',
    '1.5 KiB',
    '20.0 MiB',
    '3.0 TiB',
  ]);
});

test('draws bytes done of the total, the rate, an ETA and the count on a terminal, and clears it at the end', () => {
  const stream = sink(true);
  let clock = 0;
  const progress = progressBar(stream, 100 * 1024 ** 2, 'files', () => clock);
  clock = 2000;
  progress.update(20 * 1024 ** 2, 3);
  progress.end();
  const text = stream.text();
  assert.match(text, /20\.0 MiB \/ 100\.0 MiB/);
  assert.match(text, /10\.0 MiB\/s/);
  assert.match(text, /ETA \S+/);
  assert.match(text, /3 files/);
  assert.match(text, /20%/);
});

test('without a total, draws bytes, rate and count but no bar or ETA', () => {
  const stream = sink(true);
  let clock = 0;
  const progress = progressBar(stream, 0, 'packs', () => clock);
  clock = 1000;
  progress.update(5 * 1024 ** 2, 7);
  progress.end();
  const text = stream.text();
  assert.match(text, /5\.0 MiB \| 5\.0 MiB\/s \| 7 packs/);
  assert.doesNotMatch(text, /ETA/);
});

test('writes nothing to a stream that is not a terminal', () => {
  const stream = sink(false);
  const progress = progressBar(stream, 10, 'files');
  progress.update(5, 1);
  progress.end();
  assert.equal(stream.text(), '');
});
