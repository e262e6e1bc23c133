/**
 * Renders `docs/what-the-server-knows.md` from the allow-list in `schema.ts`, so the page cannot
 * drift from what the stores create (`schema-doc.test.ts` fails when the committed page is stale;
 * `npm run docs:server-knows` rewrites it).
 */
import { SCHEMA } from './schema.ts';

const LINK_TEXT: Record<(typeof SCHEMA)[number]['linkedBy'], string> = {
  account: 'the account itself',
  'device-owner': "the account's devices",
  device: "the account's devices' mailboxes",
  mailbox: "the account's devices' mailbox rows",
  'sender-device': "sends by the account's devices",
  none: 'nobody (disclosed for no account)',
};

export function renderServerKnowledge(): string {
  const out: string[] = [
    '# What the server knows',
    '',
    '<!-- Generated from packages/server/src/store/schema.ts by `npm run docs:server-knows`. Do not edit. -->',
    '',
    'Every table and column a Sealpost server stores, on SQLite and PostgreSQL alike, with the reason',
    'delivery needs it. A test compares the live schemas of both databases with this list, so nothing',
    'is stored that is not here. `sealpost disclose <username>` prints every row tied to one account.',
    '',
    'Never stored: IP addresses (used in memory for rate limits only, never logged), user agents,',
    'contacts, message or file contents in clear, times finer than a day except expiry times, and any',
    'link between a sender and a recipient once a message is acknowledged or expired (while it waits,',
    "its message id is in the sender's `sent` row and in each recipient's `mailbox` row).",
    '',
  ];
  for (const table of SCHEMA) {
    out.push(`## \`${table.name}\``, '', `${table.reason}. Tied to: ${LINK_TEXT[table.linkedBy]}.`, '');
    out.push('| column | type | why |', '| --- | --- | --- |');
    for (const c of table.columns)
      out.push(`| \`${c.name}\` | ${c.type} | ${c.reason.replaceAll('|', '\\|')} |`);
    out.push('');
  }
  return out.join('\n');
}
