/**
 * ts-mls 2.0.0-rc.10 for bench/messaging-ts-mls-2.ts: the candidate upgrade measured beside the
 * pinned 1.6.4, never a dependency of the project. Installed into bench/.deps/ts-mls-2/ (ignored by
 * git) with the ordinary npm client when it is missing, as messaging-libsignal.ts does.
 *
 * The same scenarios as packages/client/node/mls-test-group.ts, written against 2.0's API (one
 * params object per call with an `MlsContext`, numeric enums, `encode`/`decode` with codecs), and
 * full trees kept in bench/.cache/mls/ as fixtures-for-2.0. Only the few calls used here are typed,
 * structurally, so the project typechecks without the package.
 *
 * Our provider runs under 2.0 unchanged but for one field: 2.0's `CiphersuiteImpl` names its suite
 * by `id` (a number) where 1.6.4 has `name`, and `CryptoProvider.getCiphersuiteImpl` takes that id;
 * the Hash, Kdf, Hpke, Signature and Rng interfaces are the same. `asTsMls2` does the rest.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { mlsCiphersuite } from '../packages/client/src/mls/provider.ts';
import { wipeSecrets } from '../packages/client/src/mls/wipe.ts';

export const TS_MLS_2_VERSION = '2.0.0-rc.10';
const DEPS = join(import.meta.dirname, '.deps', 'ts-mls-2');
const ENTRY = join(DEPS, 'node_modules', 'ts-mls', 'dist', 'src', 'index.js');
const CACHE = join(import.meta.dirname, '.cache', 'mls');

/** 1.6.4's impl shape without `name`, with 2.0's numeric `id`. */
export type CiphersuiteImpl2 = Omit<CiphersuiteImpl1, 'name'> & { id: number };
type Opaque = object;
type CiphersuiteImpl1 = Awaited<ReturnType<typeof mlsCiphersuite>>;
interface KeyPackagePair {
  publicPackage: Opaque;
  privatePackage: { hpkePrivateKey: Uint8Array; signaturePrivateKey: Uint8Array };
}
export interface State2 {
  privatePath: { leafIndex: number; privateKeys: Record<number, Uint8Array> };
  signaturePrivateKey: Uint8Array;
  ratchetTree: Opaque;
}
interface Context {
  cipherSuite: CiphersuiteImpl2;
  authService: Opaque;
}
type Codec = Opaque;
type Message = { wireformat: number; welcome?: Opaque } & Opaque;
interface TsMls2 {
  getCiphersuiteImpl(name: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'): Promise<CiphersuiteImpl2>;
  unsafeTestingAuthenticationService: Opaque;
  defaultCredentialTypes: { basic: number };
  defaultProposalTypes: { add: number };
  wireformats: { mls_private_message: number; mls_welcome: number };
  protocolVersions: { mls10: number };
  mlsMessageEncoder: Codec;
  mlsMessageDecoder: Codec;
  clientStateEncoder: Codec;
  clientStateDecoder: Codec;
  encode(codec: Codec, value: unknown): Uint8Array;
  decode<T>(codec: Codec, bytes: Uint8Array): T | undefined;
  generateKeyPackage(p: { credential: object; cipherSuite: CiphersuiteImpl2 }): Promise<KeyPackagePair>;
  createGroup(p: {
    context: Context;
    groupId: Uint8Array;
    keyPackage: Opaque;
    privateKeyPackage: Opaque;
  }): Promise<State2>;
  createCommit(p: {
    context: Context;
    state: State2;
    extraProposals?: object[];
    ratchetTreeExtension?: boolean;
  }): Promise<{ newState: State2; commit: Message; welcome?: Message; consumed: Uint8Array[] }>;
  joinGroup(p: {
    context: Context;
    welcome: Opaque;
    keyPackage: Opaque;
    privateKeys: Opaque;
    ratchetTree?: Opaque;
  }): Promise<State2>;
  createApplicationMessage(p: {
    context: Context;
    state: State2;
    message: Uint8Array;
  }): Promise<{ newState: State2; message: Message; consumed: Uint8Array[] }>;
  processMessage(p: { context: Context; state: State2; message: Message }): Promise<{
    kind: 'newState' | 'applicationMessage';
    newState: State2;
    consumed: Uint8Array[];
  }>;
}

let loaded: TsMls2 | undefined;

/** ts-mls 2.0, installed on first use; or why it is not there, in one line. */
export async function loadTsMls2(): Promise<{ lib: TsMls2 } | { missing: string }> {
  if (loaded !== undefined) return { lib: loaded };
  if (!existsSync(ENTRY)) {
    const r = spawnSync(
      'npm',
      ['install', '--prefix', DEPS, '--no-audit', '--no-fund', `ts-mls@${TS_MLS_2_VERSION}`],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    if (r.status !== 0 || !existsSync(ENTRY)) {
      const why = r.error?.message ?? r.stderr.split('\n').find((l) => /err/i.test(l)) ?? `exit ${r.status}`;
      return { missing: `npm install into bench/.deps/ts-mls-2 failed: ${why.trim()}` };
    }
  }
  try {
    loaded = (await import(pathToFileURL(ENTRY).href)) as TsMls2;
    return { lib: loaded };
  } catch (e) {
    return { missing: `could not load it: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** Our provider's 1.6.4 impl of suite 1 as 2.0 wants it (suite 1 has id 1 in both versions). */
export function asTsMls2(impl: CiphersuiteImpl1): CiphersuiteImpl2 {
  const { name: _, ...rest } = impl;
  return { ...rest, id: 1 };
}

const te = new TextEncoder();

export interface Member2 {
  state: State2;
  readonly ctx: Context;
}

/** `m` acting through another impl of the same suite (e.g. one that counts calls). */
export function withImpl(m: Member2, cs: CiphersuiteImpl2): Member2 {
  return { state: m.state, ctx: { ...m.ctx, cipherSuite: cs } };
}

/** The 2.0 scenarios of mls-test-group.ts, on one impl. */
export function group2(lib: TsMls2, cs: CiphersuiteImpl2) {
  const ctx: Context = { cipherSuite: cs, authService: lib.unsafeTestingAuthenticationService };
  const keyPackage = (name: string) =>
    lib.generateKeyPackage({
      credential: { credentialType: lib.defaultCredentialTypes.basic, identity: te.encode(name) },
      cipherSuite: cs,
    });
  const add = (kp: KeyPackagePair) => ({
    proposalType: lib.defaultProposalTypes.add,
    add: { keyPackage: kp.publicPackage },
  });
  const wire = (m: Message) => lib.encode(lib.mlsMessageEncoder, m);
  const unwire = (bytes: Uint8Array, wireformat: number) => {
    const m = lib.decode<Message>(lib.mlsMessageDecoder, bytes);
    if (m?.wireformat !== wireformat) throw new Error('message did not survive encoding');
    return m;
  };

  async function processCommit(m: Member2, commit: Uint8Array): Promise<void> {
    const message = unwire(commit, lib.wireformats.mls_private_message);
    const r = await lib.processMessage({ context: m.ctx, state: m.state, message });
    if (r.kind !== 'newState') throw new Error('expected a commit');
    m.state = r.newState;
    wipeSecrets(r.consumed);
  }

  /** A group of `size` made by alice in one commit, bob joined from the Welcome (tree given out of band). */
  async function makeGroup(size: number) {
    const a = await keyPackage('alice');
    const b = await keyPackage('bob');
    const state = await lib.createGroup({
      context: ctx,
      groupId: te.encode('bench-group'),
      keyPackage: a.publicPackage,
      privateKeyPackage: a.privatePackage,
    });
    const pairs = [a, b];
    for (let i = 2; i < size; i++) pairs.push(await keyPackage(`m${i}`));
    const r = await lib.createCommit({ context: ctx, state, extraProposals: pairs.slice(1).map(add) });
    wipeSecrets(r.consumed);
    const welcome = unwire(wire(r.welcome!), lib.wireformats.mls_welcome).welcome!;
    const bobState = await lib.joinGroup({
      context: ctx,
      welcome,
      keyPackage: b.publicPackage,
      privateKeys: b.privatePackage,
      ratchetTree: r.newState.ratchetTree,
    });
    const alice: Member2 = { state: r.newState, ctx };
    const bob: Member2 = { state: bobState, ctx };
    return { alice, bob, privatePackages: pairs.map((p) => p.privatePackage) };
  }

  /** mls-test-group.ts's `fillTree`: the members on even leaves commit in turn from bob's state, alice last. */
  async function fillTree(alice: Member2, bob: Member2, privatePackages: KeyPackagePair['privatePackage'][]) {
    for (let leaf = 2; leaf < privatePackages.length; leaf += 2) {
      const pp = privatePackages[leaf]!;
      const state: State2 = {
        ...bob.state,
        privatePath: { leafIndex: leaf, privateKeys: { [2 * leaf]: pp.hpkePrivateKey } },
        signaturePrivateKey: pp.signaturePrivateKey,
      };
      const r = await lib.createCommit({ context: ctx, state });
      await processCommit(bob, wire(r.commit));
    }
    const { privatePath, signaturePrivateKey } = alice.state;
    const r = await lib.createCommit({
      context: ctx,
      state: { ...bob.state, privatePath, signaturePrivateKey },
    });
    await processCommit(bob, wire(r.commit));
    alice.state = r.newState;
  }

  return {
    makeGroup,
    processCommit,

    /** Alice and bob on a full tree, from bench/.cache/mls/ or built now (`builtMs` then says how long). */
    async fullTreeGroup(size: number): Promise<{ alice: Member2; bob: Member2; builtMs?: number }> {
      const file = join(CACHE, `full-tree-suite1-${size}-ts-mls-${TS_MLS_2_VERSION}.bin`);
      if (existsSync(file)) {
        const both = readFileSync(file);
        const n = both.readUInt32BE(0);
        const states = [both.subarray(4, 4 + n), both.subarray(4 + n)].map((b) =>
          lib.decode<State2>(lib.clientStateDecoder, new Uint8Array(b)),
        );
        if (states[0] !== undefined && states[1] !== undefined)
          return { alice: { state: states[0], ctx }, bob: { state: states[1], ctx } };
      }
      const t0 = performance.now();
      const { alice, bob, privatePackages } = await makeGroup(size);
      await fillTree(alice, bob, privatePackages);
      const builtMs = performance.now() - t0;
      const [a, b] = [alice, bob].map((m) => lib.encode(lib.clientStateEncoder, m.state));
      const head = Buffer.alloc(4);
      head.writeUInt32BE(a!.byteLength);
      mkdirSync(CACHE, { recursive: true });
      writeFileSync(file, Buffer.concat([head, a!, b!]));
      return { alice, bob, builtMs };
    },

    /** An update commit (with an UpdatePath), encoded. */
    async commitUpdate(m: Member2): Promise<Uint8Array> {
      const r = await lib.createCommit({ context: m.ctx, state: m.state });
      m.state = r.newState;
      wipeSecrets(r.consumed);
      return wire(r.commit);
    },

    joiner: keyPackage,

    /** `m` adds `j` with the ratchet tree in the Welcome, as Sealpost sends it. */
    async commitAdd(m: Member2, j: KeyPackagePair) {
      const r = await lib.createCommit({
        context: m.ctx,
        state: m.state,
        extraProposals: [add(j)],
        ratchetTreeExtension: true,
      });
      m.state = r.newState;
      wipeSecrets(r.consumed);
      return { commit: wire(r.commit), welcome: wire(r.welcome!) };
    },

    async joinFromWelcome(j: KeyPackagePair, welcome: Uint8Array): Promise<Member2> {
      const w = unwire(welcome, lib.wireformats.mls_welcome).welcome!;
      const state = await lib.joinGroup({
        context: ctx,
        welcome: w,
        keyPackage: j.publicPackage,
        privateKeys: j.privatePackage,
      });
      return { state, ctx };
    },

    /** `from` encrypts, the bytes are encoded and decoded, `to` decrypts. */
    async sendAndReceive(from: Member2, to: Member2, plaintext: Uint8Array): Promise<void> {
      const sent = await lib.createApplicationMessage({
        context: from.ctx,
        state: from.state,
        message: plaintext,
      });
      from.state = sent.newState;
      wipeSecrets(sent.consumed);
      const message = unwire(wire(sent.message), lib.wireformats.mls_private_message);
      const r = await lib.processMessage({ context: to.ctx, state: to.state, message });
      if (r.kind !== 'applicationMessage') throw new Error('expected an application message');
      to.state = r.newState;
      wipeSecrets(r.consumed);
    },
  };
}
