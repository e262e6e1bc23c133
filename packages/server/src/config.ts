/**
 * Server configuration: from flags, then environment, then defaults; validated once at start.
 * A bad value stops the server with a ConfigError naming every wrong key (never its value when the
 * key is secret). `redactConfig` is what `--print-config` prints.
 *
 * | key         | flag            | environment             | default                  |
 * |-------------|-----------------|-------------------------|--------------------------|
 * | host        | --host          | SEALPOST_HOST           | 127.0.0.1                |
 * | port        | --port          | SEALPOST_PORT           | 8420                     |
 * | adminPort   | --admin-port    | SEALPOST_ADMIN_PORT     | 9420 (loopback only; 0 = any free port, -1 = off) |
 * | store       | --store         | SEALPOST_STORE          | sqlite                   |
 * | dataDir     | --data-dir      | SEALPOST_DATA_DIR       | ./data                   |
 * | databaseUrl | --database-url  | SEALPOST_DATABASE_URL   | (required for postgres; secret) |
 * | bus         | --bus           | SEALPOST_BUS            | memory                   |
 * | natsUrl     | --nats-url      | SEALPOST_NATS_URL       | nats://127.0.0.1:4222    |
 * | natsSubject | --nats-subject  | SEALPOST_NATS_SUBJECT   | sealpost.hint            |
 * | logLevel    | --log-level     | SEALPOST_LOG_LEVEL      | info                     |
 * | trustProxy  | --trust-proxy   | SEALPOST_TRUST_PROXY    | false (true: rate-limit by X-Forwarded-For) |
 * | sqliteThread| --sqlite-thread | SEALPOST_SQLITE_THREAD  | false (true: SQLite store on a worker thread) |
 * | epochSeconds| --epoch-seconds | SEALPOST_EPOCH_SECONDS  | 2 (seconds between key-directory epochs) |
 * | witnessKeys | --witness-keys  | SEALPOST_WITNESS_KEYS   | none (base64url Ed25519 keys, comma-separated: the witnesses whose cosignatures the directory keeps) |
 */
import { z } from 'zod';
import { ConfigError, LIMITS, fromBase64urlExact } from '@sealpost/core';

const bool = z.union([
  z.boolean(),
  z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1'),
]);
const port = z.coerce.number().int().min(0).max(65535);
const isWitnessKey = (text: string): boolean => {
  try {
    fromBase64urlExact(text, LIMITS.publicKeyBytes, 'witness key');
    return true;
  } catch {
    return false;
  }
};
/** Witness keys: a comma-separated list (flag, environment) or an array, each a base64url Ed25519 key. */
const witnessKeys = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (typeof v === 'string' ? v.split(',') : v).map((k) => k.trim()).filter((k) => k !== ''))
  .pipe(
    z
      .array(z.string().refine(isWitnessKey, 'must be base64url Ed25519 public keys (32 bytes each)'))
      .max(LIMITS.ktWitnessKeysMax),
  );

const schema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(8420),
    adminPort: z.coerce.number().int().min(-1).max(65535).default(9420),
    store: z.enum(['sqlite', 'postgres']).default('sqlite'),
    dataDir: z.string().min(1).default('./data'),
    databaseUrl: z
      .string()
      .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// URL')
      .optional(),
    bus: z.enum(['memory', 'nats']).default('memory'),
    natsUrl: z
      .string()
      .refine((v) => /^(nats|tls|wss?):\/\/[^\s]+$/.test(v), 'must be a nats:// URL')
      .default('nats://127.0.0.1:4222'),
    natsSubject: z
      .string()
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be a NATS subject prefix')
      .default('sealpost.hint'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    trustProxy: bool.default(false),
    sqliteThread: bool.default(false),
    epochSeconds: z.coerce.number().positive().max(3600).default(2),
    witnessKeys: witnessKeys.default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.store === 'postgres' && c.databaseUrl === undefined) {
      ctx.addIssue({ code: 'custom', path: ['databaseUrl'], message: 'is required when store is postgres' });
    }
  });

export type Config = z.infer<typeof schema>;

const ENV: Record<keyof Config, string> = {
  host: 'SEALPOST_HOST',
  port: 'SEALPOST_PORT',
  adminPort: 'SEALPOST_ADMIN_PORT',
  store: 'SEALPOST_STORE',
  dataDir: 'SEALPOST_DATA_DIR',
  databaseUrl: 'SEALPOST_DATABASE_URL',
  bus: 'SEALPOST_BUS',
  natsUrl: 'SEALPOST_NATS_URL',
  natsSubject: 'SEALPOST_NATS_SUBJECT',
  logLevel: 'SEALPOST_LOG_LEVEL',
  trustProxy: 'SEALPOST_TRUST_PROXY',
  sqliteThread: 'SEALPOST_SQLITE_THREAD',
  epochSeconds: 'SEALPOST_EPOCH_SECONDS',
  witnessKeys: 'SEALPOST_WITNESS_KEYS',
};
const SECRET_KEYS: ReadonlySet<string> = new Set(['databaseUrl', 'natsUrl']);

export interface ConfigSources {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly flags: Readonly<Record<string, string | number | boolean | undefined>>;
}

/** Flags win over environment, environment over defaults. Throws ConfigError listing every problem. */
export function loadConfig(sources: ConfigSources): Config {
  const raw: Record<string, unknown> = {};
  for (const [key, envName] of Object.entries(ENV)) {
    const v = sources.env[envName];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  for (const [key, v] of Object.entries(sources.flags)) if (v !== undefined) raw[key] = v;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const key = i.path.join('.') || (i.code === 'unrecognized_keys' ? i.keys.join(', ') : 'config');
      return `${key}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`, { problems: problems.length });
  }
  return parsed.data;
}

/** The configuration with secrets hidden: passwords inside URLs become `***`. */
export function redactConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    out[k] = SECRET_KEYS.has(k) && typeof v === 'string' ? redactUrl(v) : v;
  }
  return out;
}

function redactUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.password !== '') u.password = '***';
    for (const key of [...u.searchParams.keys()]) {
      if (/pass|secret|token|key/i.test(key)) u.searchParams.set(key, '***');
    }
    return u.toString();
  } catch {
    return '***';
  }
}
