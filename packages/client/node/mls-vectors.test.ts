/**
 * The official MLS interoperability vectors (mlswg/mls-implementations, RFC 9420), read from
 * ../shared/vectors/mls/ beside the repository (never copied into it), run through ts-mls with
 * each of our providers: the node:crypto one (mls-crypto.ts) and the browser-safe default
 * (src/mls/provider.ts), for every suite each provider runs. Suites a provider does not run are
 * named in one summary line. The format of each file is the repository's test-vectors.md; the
 * checks follow it, through ts-mls's own functions (deep imports of the pinned version).
 *
 * Not driven here: tree-math.json and tree-operations.json (no crypto: ts-mls's own tests cover
 * them), and the "generate" direction of the vectors (ours are not published).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import {
  type CiphersuiteImpl,
  type CiphersuiteName,
  type CryptoProvider,
  decodeMlsMessage,
  encodeMlsMessage,
  joinGroup,
  makePskIndex,
  processPrivateMessage,
  processPublicMessage,
  type ClientState,
  type GroupContext,
} from 'ts-mls';
import { bytesToBase64 } from 'ts-mls/util/byteArray.js';
import {
  getCiphersuiteFromId,
  getCiphersuiteNameFromId,
  type CiphersuiteId,
} from 'ts-mls/crypto/ciphersuite.js';
import { refhash } from 'ts-mls/crypto/hash.js';
import { deriveSecret, deriveTreeSecret, expandWithLabel } from 'ts-mls/crypto/kdf.js';
import { decryptWithLabel, encryptWithLabel } from 'ts-mls/crypto/hpke.js';
import { signWithLabel, verifyWithLabel } from 'ts-mls/crypto/signature.js';
import { encodeGroupContext } from 'ts-mls/groupContext.js';
import { initializeEpoch, mlsExporter } from 'ts-mls/keySchedule.js';
import { createSecretTree, ratchetToGeneration } from 'ts-mls/secretTree.js';
import { expandSenderDataKey, expandSenderDataNonce, type ReuseGuard } from 'ts-mls/sender.js';
import { defaultKeyRetentionConfig } from 'ts-mls/keyRetentionConfig.js';
import { defaultPaddingConfig } from 'ts-mls/paddingConfig.js';
import {
  protectApplicationData,
  protectProposal,
  unprotectPrivateMessage,
} from 'ts-mls/messageProtection.js';
import { unprotectPublicMessage } from 'ts-mls/messageProtectionPublic.js';
import { decodeProposal, encodeProposal } from 'ts-mls/proposal.js';
import { decodeCommit, encodeCommit } from 'ts-mls/commit.js';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import { verifyGroupInfoConfirmationTag, verifyGroupInfoSignature } from 'ts-mls/groupInfo.js';
import { decryptGroupInfo, decryptGroupSecrets } from 'ts-mls/welcome.js';
import { decodeRatchetTree, encodeRatchetTree, getHpkePublicKey, resolution } from 'ts-mls/ratchetTree.js';
import { treeHash, treeHashRoot } from 'ts-mls/treeHash.js';
import { verifyLeafNodeSignature } from 'ts-mls/leafNode.js';
import { verifyParentHashes } from 'ts-mls/parentHash.js';
import { leafToNodeIndex, nodeToLeafIndex, toLeafIndex, toNodeIndex } from 'ts-mls/treemath.js';
import { decodeAuthenticatedContent } from 'ts-mls/authenticatedContent.js';
import { createConfirmedHash, createInterimHash } from 'ts-mls/transcriptHash.js';
import { computePskSecret } from 'ts-mls/presharedkey.js';
import { determineLength } from 'ts-mls/codec/variableLength.js';
import { decodeGroupSecrets, encodeGroupSecrets } from 'ts-mls/groupSecrets.js';
import { applyUpdatePath, decodeUpdatePath } from 'ts-mls/updatePath.js';
import { applyUpdatePathSecret } from 'ts-mls/createCommit.js';
import { getCommitSecret } from 'ts-mls/pathSecrets.js';
import { toPrivateKeyPath } from 'ts-mls/privateKeyPath.js';
import * as proposals from 'ts-mls/proposal.js';
import { browserMlsCryptoProvider } from '../src/mls/provider.ts';
import { nodeMlsCryptoProvider } from './mls-crypto.ts';

const VECTORS = new URL('../../../../shared/vectors/mls/', import.meta.url);

const PROVIDERS: readonly { name: string; provider: CryptoProvider }[] = [
  { name: 'node', provider: nodeMlsCryptoProvider },
  { name: 'browser-safe', provider: browserMlsCryptoProvider },
];

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- vector files are untyped JSON
type Vector = any;

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
function assertBytes(actual: Uint8Array | undefined, expected: string, what: string): void {
  assert.ok(actual !== undefined, `${what}: missing`);
  assert.equal(toHex(actual), expected, what);
}
function load(file: string): Vector[] {
  return JSON.parse(readFileSync(new URL(file, VECTORS), 'utf8')) as Vector[];
}

function groupContext(v: Vector, treeHashBytes: Uint8Array): GroupContext {
  return {
    version: 'mls10',
    cipherSuite: getCiphersuiteNameFromId(v.cipher_suite as CiphersuiteId),
    groupId: hex(v.group_id),
    epoch: BigInt(v.epoch),
    treeHash: treeHashBytes,
    confirmedTranscriptHash: hex(v.confirmed_transcript_hash),
    extensions: [],
  };
}

/** crypto-basics.json: RefHash, ExpandWithLabel, DeriveSecret, DeriveTreeSecret, {Sign,Encrypt}WithLabel. */
async function cryptoBasics(cs: CiphersuiteImpl, v: Vector): Promise<void> {
  const r = v.ref_hash;
  assertBytes(await refhash(r.label, hex(r.value), cs.hash), r.out, 'RefHash');
  const e = v.expand_with_label;
  assertBytes(
    await expandWithLabel(hex(e.secret), e.label, hex(e.context), e.length, cs.kdf),
    e.out,
    'ExpandWithLabel',
  );
  const d = v.derive_secret;
  assertBytes(await deriveSecret(hex(d.secret), d.label, cs.kdf), d.out, 'DeriveSecret');
  const t = v.derive_tree_secret;
  assertBytes(
    await deriveTreeSecret(hex(t.secret), t.label, t.generation, t.length, cs.kdf),
    t.out,
    'DeriveTreeSecret',
  );
  const s = v.sign_with_label;
  assert.ok(await verifyWithLabel(hex(s.pub), s.label, hex(s.content), hex(s.signature), cs.signature));
  const ours = await signWithLabel(hex(s.priv), s.label, hex(s.content), cs.signature);
  assert.ok(await verifyWithLabel(hex(s.pub), s.label, hex(s.content), ours, cs.signature), 'own signature');
  const flipped = hex(s.content);
  flipped[0] = (flipped[0] ?? 0) ^ 1;
  if (flipped.byteLength > 0)
    assert.ok(!(await verifyWithLabel(hex(s.pub), s.label, flipped, ours, cs.signature)));
  const x = v.encrypt_with_label;
  const priv = await cs.hpke.importPrivateKey(hex(x.priv));
  const pt = await decryptWithLabel(
    priv,
    x.label,
    hex(x.context),
    hex(x.kem_output),
    hex(x.ciphertext),
    cs.hpke,
  );
  assertBytes(pt, x.plaintext, 'DecryptWithLabel');
  const sealed = await encryptWithLabel(
    await cs.hpke.importPublicKey(hex(x.pub)),
    x.label,
    hex(x.context),
    hex(x.plaintext),
    cs.hpke,
  );
  assertBytes(
    await decryptWithLabel(priv, x.label, hex(x.context), sealed.enc, sealed.ct, cs.hpke),
    x.plaintext,
    'round trip',
  );
}

/** key-schedule.json: every secret of every epoch, external_pub and the exporter. */
async function keySchedule(cs: CiphersuiteImpl, v: Vector): Promise<void> {
  let initSecret = hex(v.initial_init_secret);
  for (const [i, ep] of (v.epochs as Vector[]).entries()) {
    const gc = groupContext({ ...v, ...ep, epoch: i }, hex(ep.tree_hash));
    assertBytes(encodeGroupContext(gc), ep.group_context, `epoch ${i} group_context`);
    const r = await initializeEpoch(initSecret, hex(ep.commit_secret), gc, hex(ep.psk_secret), cs.kdf);
    const ks = r.keySchedule;
    assertBytes(r.joinerSecret, ep.joiner_secret, 'joiner_secret');
    assertBytes(r.welcomeSecret, ep.welcome_secret, 'welcome_secret');
    assertBytes(r.encryptionSecret, ep.encryption_secret, 'encryption_secret');
    for (const [got, want] of [
      [ks.initSecret, 'init_secret'],
      [ks.senderDataSecret, 'sender_data_secret'],
      [ks.exporterSecret, 'exporter_secret'],
      [ks.externalSecret, 'external_secret'],
      [ks.confirmationKey, 'confirmation_key'],
      [ks.membershipKey, 'membership_key'],
      [ks.resumptionPsk, 'resumption_psk'],
      [ks.epochAuthenticator, 'epoch_authenticator'],
    ] as const) {
      assertBytes(got, ep[want], `epoch ${i} ${want}`);
    }
    const { publicKey } = await cs.hpke.deriveKeyPair(hex(ep.external_secret));
    assertBytes(await cs.hpke.exportPublicKey(publicKey), ep.external_pub, 'external_pub');
    const x = ep.exporter;
    assertBytes(
      await mlsExporter(ks.exporterSecret, x.label, hex(x.context), x.length, cs),
      x.secret,
      'exporter',
    );
    initSecret = ks.initSecret;
  }
}

/** secret-tree.json: sender-data key and nonce; both ratchets of every leaf at the listed generations. */
async function secretTree(cs: CiphersuiteImpl, v: Vector): Promise<void> {
  const sd = v.sender_data;
  assertBytes(
    await expandSenderDataKey(cs, hex(sd.sender_data_secret), hex(sd.ciphertext)),
    sd.key,
    'sd key',
  );
  assertBytes(
    await expandSenderDataNonce(cs, hex(sd.sender_data_secret), hex(sd.ciphertext)),
    sd.nonce,
    'sd nonce',
  );
  let tree = await createSecretTree(v.leaves.length, hex(v.encryption_secret), cs.kdf);
  for (const [leafIndex, gens] of (v.leaves as Vector[][]).entries()) {
    for (const g of gens) {
      const senderData = { leafIndex, generation: g.generation, reuseGuard: new Uint8Array(4) as ReuseGuard };
      const app = await ratchetToGeneration(tree, senderData, 'application', defaultKeyRetentionConfig, cs);
      assertBytes(app.key, g.application_key, `leaf ${leafIndex} gen ${g.generation} application_key`);
      assertBytes(app.nonce, g.application_nonce, 'application_nonce');
      const hs = await ratchetToGeneration(app.newTree, senderData, 'commit', defaultKeyRetentionConfig, cs);
      assertBytes(hs.key, g.handshake_key, 'handshake_key');
      assertBytes(hs.nonce, g.handshake_nonce, 'handshake_nonce');
      tree = hs.newTree;
    }
  }
}

/** message-protection.json: open the given public and private messages; protect and reopen our own. */
async function messageProtection(cs: CiphersuiteImpl, v: Vector): Promise<void> {
  const gc = groupContext(v, hex(v.tree_hash));
  const sigPub = hex(v.signature_pub);
  const fresh = () => createSecretTree(2, hex(v.encryption_secret), cs.kdf);
  const unprotect = async (bytes: Uint8Array) => {
    const m = decodeMlsMessage(bytes, 0)?.[0];
    assert.equal(m?.wireformat, 'mls_private_message');
    if (m?.wireformat !== 'mls_private_message') throw new Error('unreachable');
    const r = await unprotectPrivateMessage(
      hex(v.sender_data_secret),
      m.privateMessage,
      await fresh(),
      [],
      gc,
      defaultKeyRetentionConfig,
      cs,
      sigPub,
    );
    return r.content.content;
  };
  for (const kind of ['proposal', 'commit'] as const) {
    const m = decodeMlsMessage(hex(v[`${kind}_pub`]), 0)?.[0];
    if (m?.wireformat !== 'mls_public_message') throw new Error(`${kind}_pub is not a PublicMessage`);
    const c = (await unprotectPublicMessage(hex(v.membership_key), gc, [], m.publicMessage, cs, sigPub))
      .content;
    if (c.contentType === 'proposal') assertBytes(encodeProposal(c.proposal), v.proposal, 'public proposal');
    else if (c.contentType === 'commit') assertBytes(encodeCommit(c.commit), v.commit, 'public commit');
    else assert.fail(`${kind}_pub holds neither a proposal nor a commit`);
  }
  const p = await unprotect(hex(v.proposal_priv));
  assert.equal(p.contentType, 'proposal');
  if (p.contentType === 'proposal') assertBytes(encodeProposal(p.proposal), v.proposal, 'private proposal');
  const c = await unprotect(hex(v.commit_priv));
  assert.equal(c.contentType, 'commit');
  if (c.contentType === 'commit') assertBytes(encodeCommit(c.commit), v.commit, 'private commit');
  const a = await unprotect(hex(v.application_priv));
  assert.equal(a.contentType, 'application');
  if (a.contentType === 'application') assertBytes(a.applicationData, v.application, 'application');
  assert.ok(decodeCommit(hex(v.commit), 0));

  const signKey = hex(v.signature_priv);
  const ownApp = await protectApplicationData(
    signKey,
    hex(v.sender_data_secret),
    hex(v.application),
    new Uint8Array(),
    gc,
    await fresh(),
    1,
    defaultPaddingConfig,
    cs,
  );
  const bytes = encodeMlsMessage({
    privateMessage: ownApp.privateMessage,
    wireformat: 'mls_private_message',
    version: 'mls10',
  });
  const back = await unprotect(bytes);
  if (back.contentType !== 'application') assert.fail('own application message did not come back');
  assertBytes(back.applicationData, v.application, 'own application');
  const prop = decodeProposal(hex(v.proposal), 0)![0];
  const ownProp = await protectProposal(
    signKey,
    hex(v.sender_data_secret),
    prop,
    new Uint8Array(),
    gc,
    await fresh(),
    1,
    defaultPaddingConfig,
    cs,
  );
  const propBack = await unprotect(
    encodeMlsMessage({
      privateMessage: ownProp.privateMessage,
      wireformat: 'mls_private_message',
      version: 'mls10',
    }),
  );
  if (propBack.contentType !== 'proposal') assert.fail('own proposal did not come back');
  assertBytes(encodeProposal(propBack.proposal), v.proposal, 'own proposal');
}

/** welcome.json: decrypt the group secrets and GroupInfo, check its confirmation tag and signature. */
async function welcome(cs: CiphersuiteImpl, v: Vector): Promise<void> {
  const w = decodeMlsMessage(hex(v.welcome), 0)?.[0];
  const kp = decodeMlsMessage(hex(v.key_package), 0)?.[0];
  if (w?.wireformat !== 'mls_welcome' || kp?.wireformat !== 'mls_key_package') throw new Error('undecodable');
  const ref = await makeKeyPackageRef(kp.keyPackage, cs.hash);
  const secrets = await decryptGroupSecrets(
    await cs.hpke.importPrivateKey(hex(v.init_priv)),
    ref,
    w.welcome,
    cs.hpke,
  );
  assert.ok(secrets, 'group secrets');
  const psk = new Uint8Array(cs.kdf.size);
  const gi = await decryptGroupInfo(w.welcome, secrets.joinerSecret, psk, cs);
  assert.ok(gi, 'group info');
  assert.ok(await verifyGroupInfoConfirmationTag(gi, secrets.joinerSecret, psk, cs), 'confirmation tag');
  assert.ok(await verifyGroupInfoSignature(gi, hex(v.signer_pub), cs.signature), 'signature');
}

/** tree-validation.json: tree hash of every node, resolutions, parent hashes, leaf signatures. */
async function treeValidation(cs: CiphersuiteImpl, v: Vector): Promise<void> {
  const tree = decodeRatchetTree(hex(v.tree), 0)![0];
  for (const [i, h] of (v.tree_hashes as string[]).entries()) {
    assertBytes(await treeHash(tree, toNodeIndex(i), cs.hash), h, `tree hash of node ${i}`);
  }
  for (const [i, r] of (v.resolutions as number[][]).entries()) {
    assert.deepEqual([...resolution(tree, toNodeIndex(i))], r, `resolution of node ${i}`);
  }
  assert.ok(await verifyParentHashes(tree, cs.hash), 'parent hashes');
  for (const [i, n] of tree.entries()) {
    if (n?.nodeType !== 'leaf') continue;
    const ok = await verifyLeafNodeSignature(
      n.leaf,
      hex(v.group_id),
      nodeToLeafIndex(toNodeIndex(i)),
      cs.signature,
    );
    assert.ok(ok, `leaf signature at node ${i}`);
  }
}

/** transcript-hashes.json: confirmation tag, confirmed and interim transcript hashes. */
async function transcriptHashes(cs: CiphersuiteImpl, v: Vector): Promise<void> {
  const ac = decodeAuthenticatedContent(hex(v.authenticated_content), 0)?.[0];
  if (ac?.content.contentType !== 'commit' || ac.auth.contentType !== 'commit')
    throw new Error('not a commit');
  const tag = ac.auth.confirmationTag;
  assert.ok(await cs.hash.verifyMac(hex(v.confirmation_key), tag, hex(v.confirmed_transcript_hash_after)));
  const input = { wireformat: ac.wireformat, content: ac.content, signature: ac.auth.signature };
  assertBytes(
    await createConfirmedHash(hex(v.interim_transcript_hash_before), input, cs.hash),
    v.confirmed_transcript_hash_after,
    'confirmed transcript hash',
  );
  assertBytes(
    await createInterimHash(hex(v.confirmed_transcript_hash_after), tag, cs.hash),
    v.interim_transcript_hash_after,
    'interim transcript hash',
  );
}

/** psk_secret.json: psk_secret over a list of external PSKs. */
async function pskSecret(cs: CiphersuiteImpl, v: Vector): Promise<void> {
  const psks = (v.psks as Vector[]).map(
    (p) =>
      [{ psktype: 'external', pskId: hex(p.psk_id), pskNonce: hex(p.psk_nonce) }, hex(p.psk)] as Parameters<
        typeof computePskSecret
      >[0][number],
  );
  assertBytes(await computePskSecret(psks, cs), v.psk_secret, 'psk_secret');
}

/** treekem.json: node keys from path secrets, each UpdatePath applied and decrypted by every other leaf. */
async function treekem(cs: CiphersuiteImpl, v: Vector): Promise<void> {
  const tree = decodeRatchetTree(hex(v.ratchet_tree), 0)![0];
  const gc = groupContext(v, await treeHashRoot(tree, cs.hash));
  const privatePaths = [];
  for (const leaf of v.leaves_private as Vector[]) {
    const secrets: Record<number, Uint8Array> = {};
    for (const ps of leaf.path_secrets) secrets[ps.node] = hex(ps.path_secret);
    for (const [node, secret] of Object.entries(secrets)) {
      const { publicKey } = await cs.hpke.deriveKeyPair(await deriveSecret(secret, 'node', cs.kdf));
      assert.equal(
        toHex(await cs.hpke.exportPublicKey(publicKey)),
        toHex(getHpkePublicKey(tree[Number(node)]!)),
      );
    }
    const path = await toPrivateKeyPath(secrets, leaf.index, cs);
    const leafNode = leafToNodeIndex(toLeafIndex(leaf.index));
    privatePaths.push({
      index: leaf.index as number,
      path: { ...path, privateKeys: { ...path.privateKeys, [leafNode]: hex(leaf.encryption_priv) } },
    });
  }
  for (const up of v.update_paths as Vector[]) {
    const updatePath = decodeUpdatePath(hex(up.update_path), 0)![0];
    const after = await applyUpdatePath(tree, toLeafIndex(up.sender), updatePath, cs.hash);
    const th = await treeHashRoot(after, cs.hash);
    assertBytes(th, up.tree_hash_after, 'tree_hash_after');
    for (const pp of privatePaths) {
      if (pp.index === up.sender) {
        assert.equal(up.path_secrets[pp.index], null);
        continue;
      }
      const got = await applyUpdatePathSecret(
        tree,
        pp.path,
        toLeafIndex(up.sender),
        { ...gc, treeHash: th },
        updatePath,
        [],
        cs,
      );
      assertBytes(got.pathSecret, up.path_secrets[pp.index], `path secret for leaf ${pp.index}`);
      assertBytes(
        await getCommitSecret(tree, got.nodeIndex, got.pathSecret, cs.kdf),
        up.commit_secret,
        'commit_secret',
      );
    }
  }
}

/** passive-client-*.json: join from the Welcome, then process every proposal and commit of every epoch. */
async function passiveClient(cs: CiphersuiteImpl, v: Vector): Promise<void> {
  const kp = decodeMlsMessage(hex(v.key_package), 0)?.[0];
  const w = decodeMlsMessage(hex(v.welcome), 0)?.[0];
  if (kp?.wireformat !== 'mls_key_package' || w?.wireformat !== 'mls_welcome') throw new Error('undecodable');
  const psks: Record<string, Uint8Array> = {};
  for (const p of v.external_psks as Vector[]) psks[bytesToBase64(hex(p.psk_id))] = hex(p.psk);
  const tree = v.ratchet_tree === null ? undefined : decodeRatchetTree(hex(v.ratchet_tree), 0)![0];
  let state: ClientState = await joinGroup(
    w.welcome,
    kp.keyPackage,
    {
      hpkePrivateKey: hex(v.encryption_priv),
      initPrivateKey: hex(v.init_priv),
      signaturePrivateKey: hex(v.signature_priv),
    },
    makePskIndex(undefined, psks),
    cs,
    tree,
  );
  assertBytes(
    state.keySchedule.epochAuthenticator,
    v.initial_epoch_authenticator,
    'initial epoch authenticator',
  );
  for (const [i, ep] of (v.epochs as Vector[]).entries()) {
    for (const msg of [...ep.proposals, ep.commit] as string[]) {
      const m = decodeMlsMessage(hex(msg), 0)?.[0];
      if (m?.wireformat === 'mls_private_message') {
        state = (await processPrivateMessage(state, m.privateMessage, makePskIndex(state, psks), cs))
          .newState;
      } else if (m?.wireformat === 'mls_public_message') {
        state = (await processPublicMessage(state, m.publicMessage, makePskIndex(state, psks), cs)).newState;
      } else {
        assert.fail(`epoch ${i}: not a handshake message`);
      }
    }
    assertBytes(state.keySchedule.epochAuthenticator, ep.epoch_authenticator, `epoch ${i} authenticator`);
  }
}

/** messages.json: every structure decodes and re-encodes to the same bytes (no crypto). */
function messages(v: Vector): void {
  for (const key of [
    'mls_welcome',
    'mls_group_info',
    'mls_key_package',
    'public_message_application',
    'public_message_proposal',
    'public_message_commit',
    'private_message',
  ]) {
    const m = decodeMlsMessage(hex(v[key]), 0);
    assert.ok(m, `${key} decodes`);
    assertBytes(encodeMlsMessage(m[0]), v[key], key);
  }
  const codecs: [
    string,
    (b: Uint8Array, o: number) => [unknown, number] | undefined,
    (x: never) => Uint8Array,
  ][] = [
    ['ratchet_tree', decodeRatchetTree, encodeRatchetTree],
    ['group_secrets', decodeGroupSecrets, encodeGroupSecrets],
    ['add_proposal', proposals.decodeAdd, proposals.encodeAdd],
    ['update_proposal', proposals.decodeUpdate, proposals.encodeUpdate],
    ['remove_proposal', proposals.decodeRemove, proposals.encodeRemove],
    ['pre_shared_key_proposal', proposals.decodePSK, proposals.encodePSK],
    ['re_init_proposal', proposals.decodeReinit, proposals.encodeReinit],
    ['external_init_proposal', proposals.decodeExternalInit, proposals.encodeExternalInit],
    [
      'group_context_extensions_proposal',
      proposals.decodeGroupContextExtensions,
      proposals.encodeGroupContextExtensions,
    ],
    ['commit', decodeCommit, encodeCommit],
  ];
  for (const [key, decode, encode] of codecs) {
    const d = decode(hex(v[key]), 0);
    assert.ok(d, `${key} decodes`);
    assertBytes(encode(d[0] as never), v[key], key);
  }
}

/** deserialization.json: the length in a variable-length vector header (RFC 9420 §2.1.2). */
function deserialization(v: Vector): void {
  assert.equal(determineLength(hex(v.vlbytes_header)).length, v.length);
}

const PER_SUITE: readonly [string, (cs: CiphersuiteImpl, v: Vector) => Promise<void>][] = [
  ['crypto-basics.json', cryptoBasics],
  ['key-schedule.json', keySchedule],
  ['secret-tree.json', secretTree],
  ['message-protection.json', messageProtection],
  ['welcome.json', welcome],
  ['tree-validation.json', treeValidation],
  ['transcript-hashes.json', transcriptHashes],
  ['psk_secret.json', pskSecret],
  ['treekem.json', treekem],
  ['passive-client-welcome.json', passiveClient],
  ['passive-client-handling-commit.json', passiveClient],
  ['passive-client-random.json', passiveClient],
];
/**
 * Failures of a provider we do not own, kept visible as TODO tests rather than hidden: file,
 * provider, suite id -> why.
 */
const KNOWN_FAILURES: Readonly<Record<string, string>> = {};

const NO_CRYPTO: readonly [string, (v: Vector) => void][] = [
  ['messages.json', messages],
  ['deserialization.json', deserialization],
];

if (!existsSync(VECTORS)) {
  console.log(`mls vectors: ${VECTORS.pathname} is absent; the official MLS vectors were not run`);
} else {
  // Which suites each provider runs, decided once; the others are listed in one line.
  const SUITE_IDS = [1, 2, 3, 4, 5, 6, 7] as const;
  const impls = new Map<string, Map<number, CiphersuiteImpl>>();
  const skipped: string[] = [];
  for (const { name, provider } of PROVIDERS) {
    const byId = new Map<number, CiphersuiteImpl>();
    for (const id of SUITE_IDS) {
      try {
        byId.set(id, await provider.getCiphersuiteImpl(getCiphersuiteFromId(id)));
      } catch {
        skipped.push(`${name}: ${getCiphersuiteNameFromId(id) satisfies CiphersuiteName}`);
      }
    }
    impls.set(name, byId);
  }
  if (skipped.length > 0)
    console.log(`mls vectors: skipped, suite not run by the provider: ${skipped.join('; ')}`);

  for (const [file, check] of PER_SUITE) {
    const all = load(file);
    describe(file, () => {
      for (const { name } of PROVIDERS) {
        for (const [id, cs] of impls.get(name)!) {
          const vectors = all.filter((v) => v.cipher_suite === id);
          if (vectors.length === 0) continue;
          const todo = KNOWN_FAILURES[`${file} ${name} ${id}`];
          test(`${name} provider, suite ${id} (${vectors.length} vectors)`, { todo }, async () => {
            for (const [i, v] of vectors.entries()) {
              await check(cs, v).catch((e: unknown) => {
                throw new Error(`${file} ${name} suite ${id} vector ${i}: ${String(e)}`, { cause: e });
              });
            }
          });
        }
      }
    });
  }
  for (const [file, check] of NO_CRYPTO) {
    test(`${file} (codec only)`, () => {
      for (const [i, v] of load(file).entries()) {
        try {
          check(v);
        } catch (e) {
          throw new Error(`${file} vector ${i}: ${String(e)}`, { cause: e });
        }
      }
    });
  }
}
