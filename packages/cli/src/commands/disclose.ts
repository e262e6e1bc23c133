/**
 * `sealpost disclose <username>`: prints everything this server holds about one account, the
 * answer an operator gives to a lawful demand (DESIGN.md "What the server knows"). Runs on the
 * server's machine against its store (same store flags as `serve`), reading one consistent
 * snapshot. Ciphertext is shown by size unless `--with-ciphertext`: it is opaque to the server.
 */
import type { Command } from 'commander';
import { NotFoundError, parseUsername, toBase64url } from '@sealpost/core';
import type { CliIo } from '../io.ts';

const STORE_FLAGS = [
  ['store', '--store <store>', 'sqlite or postgres'],
  ['dataDir', '--data-dir <dir>', 'directory of the SQLite database'],
  ['databaseUrl', '--database-url <url>', 'postgres:// URL (with --store postgres)'],
] as const;

const MS_PER_DAY = 86_400_000;

function show(column: string, value: unknown, withCiphertext: boolean): string {
  if (value instanceof Uint8Array) {
    if (column === 'payload' && !withCiphertext) return `<ciphertext, ${value.length} bytes>`;
    return toBase64url(value);
  }
  if (typeof value === 'number' && column.endsWith('_day')) {
    return `${value} (${new Date(value * MS_PER_DAY).toISOString().slice(0, 10)})`;
  }
  if (typeof value === 'number' && column.endsWith('_secs')) {
    return `${value} (${new Date(value * 1000).toISOString()})`;
  }
  return String(value);
}

export function discloseCommand(program: Command, io: CliIo): void {
  const cmd = program
    .command('disclose')
    .description('print everything this server stores about an account (run on the server)')
    .argument('<username>', 'the account');
  for (const [, flag, help] of STORE_FLAGS) cmd.option(flag, help);
  cmd.option('--with-ciphertext', 'print stored ciphertext in full (base64url) instead of its size');
  cmd.option('--json', 'machine-readable output');
  cmd.action(async (name: string, options: Record<string, string | boolean | undefined>) => {
    const username = parseUsername(name);
    const { loadConfig, openStore, SCHEMA } = await import('@sealpost/server');
    const flags: Record<string, string | boolean | undefined> = {};
    for (const [key] of STORE_FLAGS) if (options[key] !== undefined) flags[key] = options[key];
    const store = await openStore(loadConfig({ env: io.env, flags }));
    try {
      const disclosure = await store.disclose(username);
      if (disclosure === undefined)
        throw new NotFoundError('ACCOUNT_NOT_FOUND', `no account named ${username}`);
      const withCiphertext = options['withCiphertext'] === true;
      if (options['json'] === true) {
        const tables = Object.fromEntries(
          Object.entries(disclosure).map(([t, rows]) => [
            t,
            rows.map((r) =>
              Object.fromEntries(
                Object.entries(r).map(([c, v]) => [
                  c,
                  v instanceof Uint8Array
                    ? c === 'payload' && !withCiphertext
                      ? { ciphertextBytes: v.length }
                      : toBase64url(v)
                    : v,
                ]),
              ),
            ),
          ]),
        );
        io.stdout.write(JSON.stringify({ username, tables }, null, 2) + '\n');
        return;
      }
      const lines = [
        `Everything this server stores about the account "${username}".`,
        'Generated from the schema allow-list (docs/what-the-server-knows.md): every table, every column.',
        '',
      ];
      for (const table of SCHEMA) {
        const rows = disclosure[table.name];
        if (rows === undefined) continue;
        lines.push(`${table.name}: ${rows.length} row${rows.length === 1 ? '' : 's'}  (${table.reason})`);
        rows.forEach((row, i) => {
          lines.push(`  row ${i + 1}`);
          for (const column of table.columns) {
            const value = show(column.name, row[column.name], withCiphertext);
            lines.push(`    ${column.name.padEnd(18)} ${value.padEnd(34)} ${column.reason}`);
          }
        });
        lines.push('');
      }
      const unlinked = SCHEMA.filter((t) => disclosure[t.name] === undefined).map((t) => t.name);
      lines.push(`Tables holding nothing about any account: ${unlinked.join(', ')}.`);
      lines.push(
        'Not stored at all: IP addresses, user agents, contacts, message contents in clear, times finer',
      );
      lines.push('than a day except expiry times, any sender-recipient link after delivery or expiry.');
      io.stdout.write(lines.join('\n') + '\n');
    } finally {
      await store.close();
    }
  });
}
