/**
 * The live schemas equal the allow-list in `schema.ts` exactly: no table or column exists without
 * its reason, and every listed one exists with its type, in both databases.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MIGRATIONS } from './migrations.ts';
import { COLUMN_TYPES, SCHEMA } from './schema.ts';
import { storeFactories } from './test-databases.ts';

/** Per dialect: every user table's columns as (table, column, type), tables by name, columns in order. */
const LIVE_COLUMNS = {
  sqlite: `
    SELECT m.name AS table_name, p.name AS column_name, p.type AS type
    FROM sqlite_schema AS m JOIN pragma_table_info(m.name) AS p
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
    ORDER BY m.name, p.cid`,
  postgres: `
    SELECT table_name, column_name, data_type AS type
    FROM information_schema.columns
    WHERE table_schema = 'public'
    ORDER BY table_name, ordinal_position`,
} as const;

describe('schema allow-list', () => {
  test('migrations are numbered 1, 2, 3, ... without gaps', () => {
    assert.deepEqual(
      MIGRATIONS.map((m) => m.version),
      MIGRATIONS.map((_, i) => i + 1),
    );
  });

  test('every table and column states its reason', () => {
    const names = SCHEMA.map((t) => t.name);
    assert.deepEqual(names, [...names].sort());
    for (const table of SCHEMA) {
      assert.ok(table.reason.trim().length > 0, table.name);
      assert.ok(table.columns.length > 0, table.name);
      for (const c of table.columns) assert.ok(c.reason.trim().length > 0, `${table.name}.${c.name}`);
    }
  });

  for (const factory of storeFactories) {
    test(`${factory.name}: the migrated schema has exactly the listed tables and columns`, async () => {
      const db = await factory.fresh();
      try {
        await (await db.open()).migrate();
        const live = (await db.inspect(LIVE_COLUMNS[factory.kind])).map(
          (r) => `${String(r['table_name'])}.${String(r['column_name'])} ${String(r['type'])}`,
        );
        const listed = SCHEMA.flatMap((t) =>
          t.columns.map((c) => `${t.name}.${c.name} ${COLUMN_TYPES[c.type][factory.kind]}`),
        );
        assert.deepEqual(live, listed);
      } finally {
        await db.cleanup();
      }
    });
  }
});
