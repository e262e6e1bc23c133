import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderServerKnowledge } from './schema-doc.ts';

test('docs/what-the-server-knows.md is the rendering of the schema allow-list', () => {
  const committed = readFileSync(
    new URL('../../../../docs/what-the-server-knows.md', import.meta.url),
    'utf8',
  );
  assert.equal(committed, renderServerKnowledge(), 'stale: run `npm run docs:server-knows`');
});
