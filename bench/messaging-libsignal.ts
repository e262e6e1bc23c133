/**
 * The libsignal reference for bench/messaging.ts: @signalapp/libsignal-client (Rust, a native
 * addon) in the same run as our MLS, for 1:1 sessions (Double Ratchet after PQXDH) and group
 * Sender Keys. It is never a dependency of the project: the bench installs it into bench/.deps/
 * (ignored by git) with the ordinary npm client when it is missing, and goes on without it, saying
 * so in one line, when that fails (no registry, no prebuilt binary for this platform).
 *
 * Only the few calls used here are typed, structurally, so the project typechecks without it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The version measured in docs/BENCHMARKS.md; pinned so that runs compare. */
export const LIBSIGNAL_VERSION = '0.103.0';
const DEPS = join(import.meta.dirname, '.deps');
const ENTRY = join(DEPS, 'node_modules', '@signalapp', 'libsignal-client', 'dist', 'index.js');

type Bytes = Uint8Array<ArrayBuffer>;
interface Handle {
  serialize(): Bytes;
}
interface PublicKey extends Handle {
  readonly _brand?: 'PublicKey';
}
interface PrivateKey extends Handle {
  getPublicKey(): PublicKey;
  sign(msg: Bytes): Bytes;
}
interface IdentityKeyPair {
  readonly publicKey: PublicKey;
  readonly privateKey: PrivateKey;
}
interface Address {
  toString(): string;
}
interface Ciphertext extends Handle {
  type(): number;
}
type Stored = object;
/** Stores as libsignal calls them (its abstract classes are only names; plain objects serve). */
interface Stores {
  session: {
    saveSession(a: Address, r: Stored): Promise<void>;
    getSession(a: Address): Promise<Stored | null>;
    getExistingSessions(as: Address[]): Promise<Stored[]>;
  };
  identity: {
    getIdentityKey(): Promise<PrivateKey>;
    getIdentityKeyPair(): Promise<IdentityKeyPair>;
    getLocalRegistrationId(): Promise<number>;
    saveIdentity(a: Address, k: PublicKey): Promise<number>;
    isTrustedIdentity(a: Address, k: PublicKey, d: number): Promise<boolean>;
    getIdentity(a: Address): Promise<PublicKey | null>;
  };
  preKey: {
    savePreKey(id: number, r: Stored): Promise<void>;
    getPreKey(id: number): Promise<Stored>;
    removePreKey(id: number): Promise<void>;
  };
  signedPreKey: {
    saveSignedPreKey(id: number, r: Stored): Promise<void>;
    getSignedPreKey(id: number): Promise<Stored>;
  };
  kyberPreKey: {
    saveKyberPreKey(id: number, r: Stored): Promise<void>;
    getKyberPreKey(id: number): Promise<Stored>;
    markKyberPreKeyUsed(id: number, spk: number, base: PublicKey): Promise<void>;
  };
  senderKey: {
    saveSenderKey(a: Address, d: string, r: Stored): Promise<void>;
    getSenderKey(a: Address, d: string): Promise<Stored | null>;
  };
}
interface Libsignal {
  IdentityKeyPair: { generate(): IdentityKeyPair };
  PrivateKey: { generate(): PrivateKey };
  KEMKeyPair: { generate(): { getPublicKey(): Handle } };
  ProtocolAddress: { new: (name: string, deviceId: number) => Address };
  PreKeyBundle: {
    new: (
      registrationId: number,
      deviceId: number,
      preKeyId: number,
      preKey: PublicKey,
      signedPreKeyId: number,
      signedPreKey: PublicKey,
      signedPreKeySignature: Bytes,
      identityKey: PublicKey,
      kyberPreKeyId: number,
      kyberPreKey: Handle,
      kyberPreKeySignature: Bytes,
    ) => Stored;
  };
  PreKeyRecord: { new: (id: number, pub: PublicKey, priv: PrivateKey) => Stored };
  SignedPreKeyRecord: {
    new: (id: number, ts: number, pub: PublicKey, priv: PrivateKey, sig: Bytes) => Stored;
  };
  KyberPreKeyRecord: { new: (id: number, ts: number, kp: object, sig: Bytes) => Stored };
  PreKeySignalMessage: { deserialize(b: Bytes): Stored };
  SignalMessage: { deserialize(b: Bytes): Stored };
  SenderKeyDistributionMessage: {
    create(sender: Address, distributionId: string, s: Stores['senderKey']): Promise<Handle>;
    deserialize(b: Bytes): Stored;
  };
  processSenderKeyDistributionMessage(sender: Address, m: Stored, s: Stores['senderKey']): Promise<void>;
  processPreKeyBundle(
    b: Stored,
    to: Address,
    from: Address,
    s: Stores['session'],
    i: Stores['identity'],
  ): Promise<void>;
  signalEncrypt(
    m: Bytes,
    to: Address,
    from: Address,
    s: Stores['session'],
    i: Stores['identity'],
  ): Promise<Ciphertext>;
  signalDecrypt(
    m: Stored,
    from: Address,
    to: Address,
    s: Stores['session'],
    i: Stores['identity'],
  ): Promise<Bytes>;
  signalDecryptPreKey(
    m: Stored,
    from: Address,
    to: Address,
    s: Stores['session'],
    i: Stores['identity'],
    p: Stores['preKey'],
    sp: Stores['signedPreKey'],
    k: Stores['kyberPreKey'],
  ): Promise<Bytes>;
  groupEncrypt(
    sender: Address,
    distributionId: string,
    s: Stores['senderKey'],
    m: Bytes,
  ): Promise<Ciphertext>;
  groupDecrypt(sender: Address, s: Stores['senderKey'], m: Bytes): Promise<Bytes>;
}

/** libsignal, installed on first use; or why it is not there, in one line. */
export async function loadLibsignal(): Promise<{ lib: Libsignal } | { missing: string }> {
  if (!existsSync(ENTRY)) {
    const r = spawnSync(
      'npm',
      [
        'install',
        '--prefix',
        DEPS,
        '--no-audit',
        '--no-fund',
        `@signalapp/libsignal-client@${LIBSIGNAL_VERSION}`,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    if (r.status !== 0 || !existsSync(ENTRY)) {
      const why = r.error?.message ?? r.stderr.split('\n').find((l) => /err/i.test(l)) ?? `exit ${r.status}`;
      return { missing: `npm install into bench/.deps failed: ${why.trim()}` };
    }
  }
  try {
    return { lib: (await import(pathToFileURL(ENTRY).href)) as Libsignal };
  } catch (e) {
    return { missing: `could not load it: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** One device's in-memory stores: records kept as objects, as a client's cache would. */
function stores(identity: IdentityKeyPair, registrationId: number): Stores {
  const sessions = new Map<string, Stored>();
  const identities = new Map<string, PublicKey>();
  const preKeys = new Map<number, Stored>();
  const signedPreKeys = new Map<number, Stored>();
  const kyberPreKeys = new Map<number, Stored>();
  const senderKeys = new Map<string, Stored>();
  const get = <K, V>(m: Map<K, V>, k: K): V => {
    const v = m.get(k);
    if (v === undefined) throw new Error(`no record ${String(k)}`);
    return v;
  };
  return {
    session: {
      saveSession: async (a, r) => void sessions.set(a.toString(), r),
      getSession: async (a) => sessions.get(a.toString()) ?? null,
      getExistingSessions: async (as) => as.map((a) => get(sessions, a.toString())),
    },
    identity: {
      getIdentityKey: async () => identity.privateKey,
      getIdentityKeyPair: async () => identity,
      getLocalRegistrationId: async () => registrationId,
      saveIdentity: async (a, k) => (identities.set(a.toString(), k), 0),
      isTrustedIdentity: async () => true,
      getIdentity: async (a) => identities.get(a.toString()) ?? null,
    },
    preKey: {
      savePreKey: async (id, r) => void preKeys.set(id, r),
      getPreKey: async (id) => get(preKeys, id),
      removePreKey: async (id) => void preKeys.delete(id),
    },
    signedPreKey: {
      saveSignedPreKey: async (id, r) => void signedPreKeys.set(id, r),
      getSignedPreKey: async (id) => get(signedPreKeys, id),
    },
    kyberPreKey: {
      saveKyberPreKey: async (id, r) => void kyberPreKeys.set(id, r),
      getKyberPreKey: async (id) => get(kyberPreKeys, id),
      markKyberPreKeyUsed: async () => {},
    },
    senderKey: {
      saveSenderKey: async (a, d, r) => void senderKeys.set(`${a.toString()}/${d}`, r),
      getSenderKey: async (a, d) => senderKeys.get(`${a.toString()}/${d}`) ?? null,
    },
  };
}

/** A sender and a receiver: each call encrypts one message and decrypts it on the other side. */
export interface Pair {
  sendAndReceive(plaintext: Bytes): Promise<Bytes>;
  /** The bytes on the wire for a plaintext, without delivering it. */
  ciphertextSize(plaintext: Bytes): Promise<number>;
}

/**
 * A 1:1 session from alice to bob: PQXDH from bob's bundle (one-time, signed and Kyber prekeys),
 * then one message each way, so that what is measured is the steady state (SignalMessage, not
 * PreKeySignalMessage) of a conversation in one direction.
 */
export async function oneToOne(lib: Libsignal): Promise<Pair> {
  const aliceAddr = lib.ProtocolAddress.new('alice', 1);
  const bobAddr = lib.ProtocolAddress.new('bob', 1);
  const aliceId = lib.IdentityKeyPair.generate();
  const bobId = lib.IdentityKeyPair.generate();
  const a = stores(aliceId, 1);
  const b = stores(bobId, 2);
  const preKey = lib.PrivateKey.generate();
  const signedPreKey = lib.PrivateKey.generate();
  const spkSig = bobId.privateKey.sign(signedPreKey.getPublicKey().serialize());
  const kyber = lib.KEMKeyPair.generate();
  const kyberSig = bobId.privateKey.sign(kyber.getPublicKey().serialize());
  await b.preKey.savePreKey(1, lib.PreKeyRecord.new(1, preKey.getPublicKey(), preKey));
  await b.signedPreKey.saveSignedPreKey(
    1,
    lib.SignedPreKeyRecord.new(1, Date.now(), signedPreKey.getPublicKey(), signedPreKey, spkSig),
  );
  await b.kyberPreKey.saveKyberPreKey(1, lib.KyberPreKeyRecord.new(1, Date.now(), kyber, kyberSig));
  const bundle = lib.PreKeyBundle.new(
    2,
    1,
    1,
    preKey.getPublicKey(),
    1,
    signedPreKey.getPublicKey(),
    spkSig,
    bobId.publicKey,
    1,
    kyber.getPublicKey(),
    kyberSig,
  );
  await lib.processPreKeyBundle(bundle, bobAddr, aliceAddr, a.session, a.identity);
  const hello = new TextEncoder().encode('hello') as Bytes;
  const first = await lib.signalEncrypt(hello, bobAddr, aliceAddr, a.session, a.identity);
  const m = lib.PreKeySignalMessage.deserialize(first.serialize());
  await lib.signalDecryptPreKey(
    m,
    aliceAddr,
    bobAddr,
    b.session,
    b.identity,
    b.preKey,
    b.signedPreKey,
    b.kyberPreKey,
  );
  const reply = await lib.signalEncrypt(hello, aliceAddr, bobAddr, b.session, b.identity);
  await lib.signalDecrypt(
    lib.SignalMessage.deserialize(reply.serialize()),
    bobAddr,
    aliceAddr,
    a.session,
    a.identity,
  );
  return {
    async sendAndReceive(plaintext) {
      const ct = await lib.signalEncrypt(plaintext, bobAddr, aliceAddr, a.session, a.identity);
      const wire = ct.serialize();
      return lib.signalDecrypt(
        lib.SignalMessage.deserialize(wire),
        aliceAddr,
        bobAddr,
        b.session,
        b.identity,
      );
    },
    async ciphertextSize(plaintext) {
      const ct = await lib.signalEncrypt(plaintext, bobAddr, aliceAddr, a.session, a.identity);
      await lib.signalDecrypt(
        lib.SignalMessage.deserialize(ct.serialize()),
        aliceAddr,
        bobAddr,
        b.session,
        b.identity,
      );
      return ct.serialize().byteLength;
    },
  };
}

/**
 * Sender Keys, libsignal's group messages: alice's SenderKeyDistributionMessage reaches bob (in a
 * real client, over their 1:1 session), then each message is encrypted once by alice and
 * decrypted by each receiver. The cost of one encryption and one decryption does not depend on
 * the group's size; the sender key's distribution (one 1:1 message per member) is not measured.
 */
export async function senderKeys(lib: Libsignal): Promise<Pair> {
  const aliceAddr = lib.ProtocolAddress.new('alice', 1);
  const a = stores(lib.IdentityKeyPair.generate(), 1);
  const b = stores(lib.IdentityKeyPair.generate(), 2);
  const distributionId = 'd1b6f4c5-6c1e-4b8e-9a57-0c0ffee00001';
  const skdm = await lib.SenderKeyDistributionMessage.create(aliceAddr, distributionId, a.senderKey);
  await lib.processSenderKeyDistributionMessage(
    aliceAddr,
    lib.SenderKeyDistributionMessage.deserialize(skdm.serialize()),
    b.senderKey,
  );
  return {
    async sendAndReceive(plaintext) {
      const ct = await lib.groupEncrypt(aliceAddr, distributionId, a.senderKey, plaintext);
      return lib.groupDecrypt(aliceAddr, b.senderKey, ct.serialize());
    },
    async ciphertextSize(plaintext) {
      const ct = await lib.groupEncrypt(aliceAddr, distributionId, a.senderKey, plaintext);
      await lib.groupDecrypt(aliceAddr, b.senderKey, ct.serialize());
      return ct.serialize().byteLength;
    },
  };
}
