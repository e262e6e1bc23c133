/**
 * `sealpost disclose <username>`: every row the server holds that is tied to one account, table by
 * table, straight from the allow-list in `schema.ts` (DESIGN.md "What the server knows"). The
 * queries select `*`, so a column added by a migration shows up here; `schema.test.ts` keeps the
 * allow-list equal to the live columns.
 */
import type { TableSpec } from './schema.ts';
import { SCHEMA } from './schema.ts';

export type DisclosedValue = number | string | Uint8Array | null;
export type DisclosedRow = Readonly<Record<string, DisclosedValue>>;

/** Table name -> the account's rows in it. Tables linked to nobody are absent. */
export type Disclosure = Readonly<Record<string, readonly DisclosedRow[]>>;

/** The WHERE clause tying `table` to the account (`:account` = accounts.id), per its `linkedBy`. */
export function disclosureFilter(table: TableSpec): string | undefined {
  switch (table.linkedBy) {
    case 'account':
      return 'id = :account';
    case 'device-owner':
      return 'account_id = :account';
    case 'device':
      return 'device_pk IN (SELECT pk FROM devices WHERE account_id = :account)';
    case 'mailbox':
      return 'id IN (SELECT payload_id FROM mailbox WHERE device_pk IN (SELECT pk FROM devices WHERE account_id = :account))';
    case 'sender-device':
      return 'sender_device_pk IN (SELECT pk FROM devices WHERE account_id = :account)';
    case 'none':
      return undefined;
  }
}

/** Tables disclosed for an account, in schema order, with their filters. */
export const DISCLOSED_TABLES: readonly { readonly table: TableSpec; readonly where: string }[] =
  SCHEMA.flatMap((table) => {
    const where = disclosureFilter(table);
    return where === undefined ? [] : [{ table, where }];
  });
