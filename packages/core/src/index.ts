/** @sealpost/core: sans-I/O protocol library (runs in Node and in the browser). */
export * from './errors.ts';
export * from './limits.ts';
export * from './codec/reader.ts';
export * from './codec/writer.ts';
export * from './bytes/encoding.ts';
export type * from './crypto/provider.ts';
export * from './account/username.ts';
export * from './account/statements.ts';
export * from './wire/frames.ts';
export * from './crypto/noble-provider.ts';
