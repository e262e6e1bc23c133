/**
 * The directory client's memory as text, so a device keeps it between runs (docs/key-transparency.md
 * "Client"): without it, a server could roll a returning client back to an older head, or show it
 * another fork, and only a client that remembers would notice.
 *
 *   {"v": 1,
 *    "heads": [{"server", "treeSize", "root", "timestamp",
 *               "view": {"size", "fullSubtrees": [b64], "frontier": [[index, timestamp, b64 prefixRoot]]}}],
 *    "lists": [{"key": "<server> <username>", "deviceList": b64(encoded signed list)}],
 *    "versions": [{"key": "<b64 directory key> <username>", "records": [[version, b64 vrfOutput, b64 commitment]]}]}
 *
 * Browser-safe (no I/O): the caller stores the text (the CLI writes it atomically in its home). A
 * list is kept in its signed encoding and accepted again on load (signature and devices checked);
 * its chain was checked when it was first accepted. Own versions' records (own-version-records.ts)
 * were added later: text without "versions" has none. Text that does not parse is a CodecError.
 */
import { CodecError, fromBase64url, toBase64url, type CryptoProvider } from '@sealpost/core';
import type { KtView } from '@sealpost/core/kt/combined-proof';
import type { LogEntry } from '@sealpost/core/kt/log-tree';
import { acceptDeviceList, encodeDeviceList } from '@sealpost/core/identity/device-list';
import type { AcceptedHead, DirectoryMemory } from './directory-client.ts';
import type { VersionRecord } from './own-version-records.ts';

const FORMAT_VERSION = 1;
const HASH_BYTES = 32;
/** Entries kept per map: far more servers and contacts than one device follows. */
const ENTRIES_MAX = 100_000;
/** Elements of a view's subtrees and frontier (a log of 2^53 entries has at most 53 full subtrees). */
const VIEW_ELEMENTS_MAX = 4_096;
/** An encoded device list, in bytes (core LIMITS.identityDeviceListMaxBytes is well below). */
const DEVICE_LIST_MAX_BYTES = 64 * 1024;

export function encodeDirectoryMemory(memory: DirectoryMemory): string {
  const heads = [...memory.heads].map(([server, h]) => ({
    server,
    treeSize: h.treeSize,
    root: toBase64url(h.root),
    timestamp: h.timestamp,
    view:
      h.view === undefined
        ? null
        : {
            size: h.view.size,
            fullSubtrees: h.view.fullSubtrees.map(toBase64url),
            frontier: [...h.view.frontier].map(([i, e]) => [i, e.timestamp, toBase64url(e.prefixRoot)]),
          },
  }));
  const lists = [...memory.lists].map(([key, a]) => ({
    key,
    deviceList: toBase64url(encodeDeviceList(a.list)),
  }));
  const versions = [...memory.versions].map(([key, records]) => ({
    key,
    records: [...records].map(([v, r]) => [v, toBase64url(r.vrfOutput), toBase64url(r.commitment)]),
  }));
  return JSON.stringify({ v: FORMAT_VERSION, heads, lists, versions });
}

const bad = (what: string) => new CodecError('CODEC_INVALID_VALUE', `directory memory: ${what} is malformed`);

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(what);
  return v as Record<string, unknown>;
}
function arr(v: unknown, max: number, what: string): unknown[] {
  if (!Array.isArray(v) || v.length > max) throw bad(what);
  return v;
}
function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(what);
  return v;
}
function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw bad(what);
  return v;
}
function hash(v: unknown, what: string): Uint8Array {
  const b = fromBase64url(str(v, what), Math.ceil((HASH_BYTES * 4) / 3), what);
  if (b.length !== HASH_BYTES) throw bad(what);
  return b;
}

function decodeView(v: unknown): KtView | undefined {
  if (v === null) return undefined;
  const o = obj(v, 'view');
  const frontier = new Map<number, LogEntry>();
  for (const item of arr(o['frontier'], VIEW_ELEMENTS_MAX, 'frontier')) {
    const [i, timestamp, prefixRoot] = arr(item, 3, 'frontier entry');
    frontier.set(int(i, 'frontier index'), {
      timestamp: int(timestamp, 'frontier time'),
      prefixRoot: hash(prefixRoot, 'prefix root'),
    });
  }
  return {
    size: int(o['size'], 'view size'),
    fullSubtrees: arr(o['fullSubtrees'], VIEW_ELEMENTS_MAX, 'subtrees').map((s) => hash(s, 'subtree')),
    frontier,
  };
}

/** Parses `text` (from `encodeDirectoryMemory`). Throws CodecError, or a device list's IDENTITY_* error. */
export function decodeDirectoryMemory(crypto: CryptoProvider, text: string): DirectoryMemory {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw bad('text');
  }
  const o = obj(json, 'memory');
  if (o['v'] !== FORMAT_VERSION) throw bad('version');
  const heads = new Map<string, AcceptedHead>();
  for (const item of arr(o['heads'], ENTRIES_MAX, 'heads')) {
    const h = obj(item, 'head');
    heads.set(str(h['server'], 'server'), {
      treeSize: int(h['treeSize'], 'tree size'),
      root: hash(h['root'], 'root'),
      timestamp: int(h['timestamp'], 'timestamp'),
      view: decodeView(h['view']),
    });
  }
  const lists: DirectoryMemory['lists'] = new Map();
  for (const item of arr(o['lists'], ENTRIES_MAX, 'lists')) {
    const l = obj(item, 'list');
    const encoded = fromBase64url(
      str(l['deviceList'], 'device list'),
      Math.ceil((DEVICE_LIST_MAX_BYTES * 4) / 3),
      'device list',
    );
    lists.set(str(l['key'], 'list key'), acceptDeviceList(crypto, undefined, encoded));
  }
  const versions: DirectoryMemory['versions'] = new Map();
  for (const item of arr(o['versions'] ?? [], ENTRIES_MAX, 'versions')) {
    const l = obj(item, 'versions of a label');
    const records = new Map<number, VersionRecord>();
    for (const r of arr(l['records'], ENTRIES_MAX, 'records')) {
      const [v, vrfOutput, commitment] = arr(r, 3, 'record');
      records.set(int(v, 'record version'), {
        vrfOutput: hash(vrfOutput, 'record search key'),
        commitment: hash(commitment, 'record commitment'),
      });
    }
    versions.set(str(l['key'], 'versions key'), records);
  }
  return { heads, lists, versions };
}
