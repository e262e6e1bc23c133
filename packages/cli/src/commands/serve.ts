/**
 * `sealpost serve`: runs a server. Options are the server's configuration keys
 * (packages/server/src/config.ts); flags win over SEALPOST_* environment variables, which win
 * over defaults. SIGTERM or SIGINT drains gracefully (`close()`); a second signal exits at once.
 */
import type { Command } from 'commander';
import type { CliIo } from '../io.ts';

/** Option name (camelCase, as commander stores it and as `loadConfig` reads flags) -> flag. */
const CONFIG_FLAGS = [
  ['host', '--host <host>', 'address to listen on'],
  ['port', '--port <port>', 'HTTP and WebSocket port (0: any free port)'],
  ['adminPort', '--admin-port <port>', 'loopback admin port for /metrics (0: any free port, -1: off)'],
  ['store', '--store <store>', 'sqlite or postgres'],
  ['dataDir', '--data-dir <dir>', 'directory of the SQLite database and blobs'],
  ['databaseUrl', '--database-url <url>', 'postgres:// URL (required with --store postgres)'],
  ['bus', '--bus <bus>', 'memory or nats'],
  ['natsUrl', '--nats-url <url>', 'nats:// URL (with --bus nats)'],
  ['natsSubject', '--nats-subject <subject>', 'NATS subject prefix of delivery hints'],
  ['logLevel', '--log-level <level>', 'fatal, error, warn, info, debug, trace or silent'],
  ['trustProxy', '--trust-proxy', 'rate-limit by X-Forwarded-For (behind a trusted proxy only)'],
  ['sqliteThread', '--sqlite-thread', 'run the SQLite store on its own thread (hosts with slow disks)'],
  [
    'witnessKeys',
    '--witness-keys <keys>',
    'witness keys (base64url, comma-separated) whose cosignatures to keep',
  ],
] as const;

export function serveCommand(program: Command, io: CliIo): void {
  const cmd = program.command('serve').description('run a Sealpost server');
  for (const [, flag, help] of CONFIG_FLAGS) cmd.option(flag, help);
  cmd.option('--print-config', 'print the effective configuration (secrets redacted) and exit');
  cmd.action(async (options: Record<string, string | boolean | undefined>) => {
    // Loaded here, not at the top: account commands should not load the server and its drivers.
    const { loadConfig, redactConfig, startServer } = await import('@sealpost/server');
    const flags: Record<string, string | boolean | undefined> = {};
    for (const [key] of CONFIG_FLAGS) if (options[key] !== undefined) flags[key] = options[key];
    const config = loadConfig({ env: io.env, flags });
    if (options['printConfig'] === true) {
      io.stdout.write(JSON.stringify(redactConfig(config), null, 2) + '\n');
      return;
    }
    const server = await startServer(config);
    io.stdout.write(`Sealpost listening on ${server.url} (admin ${server.adminUrl || 'off'})\n`);
    await untilSignal();
    io.stderr.write('draining connections...\n');
    const forced = (): never => process.exit(1);
    process.once('SIGTERM', forced);
    process.once('SIGINT', forced);
    await server.close();
  });
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
