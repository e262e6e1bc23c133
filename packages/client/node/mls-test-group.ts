/**
 * Small MLS scenarios on ts-mls for tests and benchmarks: a group of N members created by one
 * member ("alice") in a single commit, of which one other member ("bob") joins from the Welcome.
 * The other N-2 members are leaves in the tree that never act, which is enough to give every
 * operation its real cost for a group of that size (tree depth, path length, Welcome size).
 *
 * Each member has its own `CiphersuiteImpl`, so one group can mix providers (interop tests).
 *
 * Such a group's tree is the one right after a batch Add: every parent node is blank, so an
 * UpdatePath is encrypted to about every other leaf. `fillTree` makes the steady-state tree of a
 * group whose members have all committed once, where it is encrypted to one node per level.
 */
import {
  type CiphersuiteImpl,
  type ClientState,
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeGroupState,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackage,
  joinGroup,
  type KeyPackage,
  type PrivateKeyPackage,
  processPrivateMessage,
  type Proposal,
  type Welcome,
} from 'ts-mls';
import { defaultClientConfig } from 'ts-mls/clientConfig.js';
import { CodecError } from 'ts-mls/mlsError.js';
import { wipeSecrets } from '../src/mls/wipe.ts';

export interface Member {
  readonly name: string;
  state: ClientState;
  readonly cs: CiphersuiteImpl;
}

const te = new TextEncoder();

export async function keyPackage(
  name: string,
  cs: CiphersuiteImpl,
): Promise<{ publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }> {
  return generateKeyPackage(
    { credentialType: 'basic', identity: te.encode(name) },
    defaultCapabilities(),
    defaultLifetime,
    [],
    cs,
  );
}

function addProposal(kp: KeyPackage): Proposal {
  return { proposalType: 'add', add: { keyPackage: kp } };
}

/** The Welcome as it travels: encoded, then decoded by the joiner. */
function overTheWire(welcome: Welcome): Welcome {
  const bytes = encodeMlsMessage({ welcome, wireformat: 'mls_welcome', version: 'mls10' });
  const decoded = decodeMlsMessage(bytes, 0)?.[0];
  if (decoded?.wireformat !== 'mls_welcome') throw new Error('welcome did not survive encoding');
  return decoded.welcome;
}

/**
 * A group of `size` >= 2 members; `aliceCs` creates it and commits, `bobCs` joins.
 * Requires both impls to be of the same suite.
 */
export async function makeGroup(
  size: number,
  aliceCs: CiphersuiteImpl,
  bobCs: CiphersuiteImpl = aliceCs,
): Promise<{ alice: Member; bob: Member; privatePackages: PrivateKeyPackage[] }> {
  if (!Number.isSafeInteger(size) || size < 2) throw new RangeError(`group size ${size} < 2`);
  const a = await keyPackage('alice', aliceCs);
  const b = await keyPackage('bob', bobCs);
  const state = await createGroup(te.encode('bench-group'), a.publicPackage, a.privatePackage, [], aliceCs);
  const proposals = [addProposal(b.publicPackage)];
  const privatePackages = [a.privatePackage, b.privatePackage];
  for (let i = 2; i < size; i++) {
    const m = await keyPackage(`m${i}`, aliceCs);
    proposals.push(addProposal(m.publicPackage));
    privatePackages.push(m.privatePackage);
  }
  const commit = await createCommit({ state, cipherSuite: aliceCs }, { extraProposals: proposals });
  wipeSecrets(commit.consumed);
  const alice: Member = { name: 'alice', state: commit.newState, cs: aliceCs };
  const bobState = await joinGroup(
    overTheWire(commit.welcome!),
    b.publicPackage,
    b.privatePackage,
    emptyPskIndex,
    bobCs,
    alice.state.ratchetTree,
  );
  return { alice, bob: { name: 'bob', state: bobState, cs: bobCs }, privatePackages };
}

/**
 * Makes every parent node of `makeGroup`'s tree non-blank with no unmerged leaf, as in a group
 * whose members have all committed once: the members on leaves 2, 4, 6, ... commit an update in
 * turn (every parent node has an even leaf below it), bob processes each, and alice (leaf 0)
 * commits last. `privatePackages[i]` is the private KeyPackage of leaf i (`makeGroup` gives them).
 *
 * Only alice and bob are kept as states. Each other committer acts from bob's current state with
 * its own leaf index, leaf HPKE key and signature key put in: creating a commit needs the epoch's
 * secrets and the public tree, which all members share, and the committer's own leaf keys
 * (RFC 9420 §12.4.2); the path secrets are new. So bob verifies and applies real commits.
 * Costs about size / 2 commits: seconds at 1,000 members.
 */
export async function fillTree(
  alice: Member,
  bob: Member,
  privatePackages: readonly PrivateKeyPackage[],
): Promise<void> {
  for (let leaf = 2; leaf < privatePackages.length; leaf += 2) {
    const pp = privatePackages[leaf]!;
    const as: ClientState = {
      ...bob.state,
      privatePath: { leafIndex: leaf, privateKeys: { [2 * leaf]: pp.hpkePrivateKey } },
      signaturePrivateKey: pp.signaturePrivateKey,
    };
    // The result's `consumed` are the epoch's secrets, shared with bob's state: bob wipes them.
    const r = await createCommit({ state: as, cipherSuite: alice.cs }, {});
    await processCommit(bob, encodeMlsMessage(r.commit));
  }
  const { privatePath, signaturePrivateKey } = alice.state;
  const r = await createCommit(
    { state: { ...bob.state, privatePath, signaturePrivateKey }, cipherSuite: alice.cs },
    {},
  );
  await processCommit(bob, encodeMlsMessage(r.commit));
  alice.state = r.newState;
}

/** A member-to-be: its KeyPackage (public and private) and its impl. */
export interface Joiner {
  readonly name: string;
  readonly cs: CiphersuiteImpl;
  readonly keyPackage: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage };
}

export async function joiner(name: string, cs: CiphersuiteImpl): Promise<Joiner> {
  return { name, cs, keyPackage: await keyPackage(name, cs) };
}

/**
 * `committer` adds `j` (ts-mls sends an Add-only commit without an UpdatePath); returns the encoded
 * commit and Welcome. With `treeInWelcome` the Welcome carries the ratchet tree (RFC 9420 §12.4.3.3),
 * as Sealpost's conversations send it; otherwise the joiner is given the tree out of band.
 */
export async function commitAdd(
  committer: Member,
  j: Joiner,
  { treeInWelcome = false } = {},
): Promise<{ commit: Uint8Array; welcome: Uint8Array }> {
  const r = await createCommit(
    { state: committer.state, cipherSuite: committer.cs },
    { extraProposals: [addProposal(j.keyPackage.publicPackage)], ratchetTreeExtension: treeInWelcome },
  );
  committer.state = r.newState;
  wipeSecrets(r.consumed);
  return {
    commit: encodeMlsMessage(r.commit),
    welcome: encodeMlsMessage({ welcome: r.welcome!, wireformat: 'mls_welcome', version: 'mls10' }),
  };
}

/**
 * `committer` commits no proposal, so the commit carries an UpdatePath (RFC 9420 §12.4: a full
 * commit refreshes the committer's path, the post-compromise-security step).
 */
export async function commitUpdate(committer: Member): Promise<Uint8Array> {
  const r = await createCommit({ state: committer.state, cipherSuite: committer.cs }, {});
  committer.state = r.newState;
  wipeSecrets(r.consumed);
  return encodeMlsMessage(r.commit);
}

/** `m` applies an encoded commit sent as a PrivateMessage. */
export async function processCommit(m: Member, commit: Uint8Array): Promise<void> {
  const decoded = decodeMlsMessage(commit, 0)?.[0];
  if (decoded?.wireformat !== 'mls_private_message') throw new Error('commit is not a PrivateMessage');
  const r = await processPrivateMessage(m.state, decoded.privateMessage, emptyPskIndex, m.cs);
  if (r.kind !== 'newState') throw new Error('expected a commit');
  m.state = r.newState;
  wipeSecrets(r.consumed);
}

/** `j` joins from an encoded Welcome, given the tree out of band or, when undefined, from the Welcome. */
export async function joinFromWelcome(
  j: Joiner,
  welcome: Uint8Array,
  tree?: ClientState['ratchetTree'],
): Promise<Member> {
  const decoded = decodeMlsMessage(welcome, 0)?.[0];
  if (decoded?.wireformat !== 'mls_welcome') throw new Error('not a Welcome');
  const state = await joinGroup(
    decoded.welcome,
    j.keyPackage.publicPackage,
    j.keyPackage.privatePackage,
    emptyPskIndex,
    j.cs,
    tree,
  );
  return { name: j.name, state, cs: j.cs };
}

/** The encoded size of `from`'s application message carrying `plaintext` (the message is not delivered). */
export async function messageBytes(from: Member, plaintext: Uint8Array): Promise<number> {
  const sent = await createApplicationMessage(from.state, plaintext, from.cs);
  from.state = sent.newState;
  wipeSecrets(sent.consumed);
  return encodeMlsMessage({
    privateMessage: sent.privateMessage,
    wireformat: 'mls_private_message',
    version: 'mls10',
  }).byteLength;
}

/** `from` encrypts, the bytes are encoded and decoded, `to` decrypts; returns the plaintext. */
export async function sendAndReceive(from: Member, to: Member, plaintext: Uint8Array): Promise<Uint8Array> {
  const sent = await createApplicationMessage(from.state, plaintext, from.cs);
  from.state = sent.newState;
  wipeSecrets(sent.consumed);
  const bytes = encodeMlsMessage({
    privateMessage: sent.privateMessage,
    wireformat: 'mls_private_message',
    version: 'mls10',
  });
  const decoded = decodeMlsMessage(bytes, 0)?.[0];
  if (decoded?.wireformat !== 'mls_private_message') throw new Error('message did not survive encoding');
  const received = await processPrivateMessage(to.state, decoded.privateMessage, emptyPskIndex, to.cs);
  to.state = received.newState;
  if (received.kind !== 'applicationMessage') throw new Error(`expected an application message`);
  wipeSecrets(received.consumed);
  return received.message;
}

/** A member's state as bytes (ts-mls's GroupState encoding, private keys included): a fixture to store. */
export function encodeMember(m: Member): Uint8Array {
  return encodeGroupState(m.state);
}

/** The member `encodeMember` wrote, with ts-mls's default client configuration; undefined if the bytes do not decode. */
export function decodeMember(name: string, bytes: Uint8Array, cs: CiphersuiteImpl): Member | undefined {
  let decoded: ReturnType<typeof decodeGroupState>;
  try {
    decoded = decodeGroupState(bytes, 0);
  } catch (e) {
    if (e instanceof CodecError) return undefined; // ts-mls's decoders throw on some truncations
    throw e;
  }
  if (decoded === undefined || decoded[1] !== bytes.byteLength) return undefined;
  return { name, state: { ...decoded[0], clientConfig: defaultClientConfig }, cs };
}
