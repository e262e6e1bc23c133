import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeContent, encodeContent } from './content.ts';
import { isConversationError } from './errors.ts';
import { CONVERSATION_LIMITS } from './limits.ts';

describe('application content', () => {
  it('round-trips texts, titles and a leave request', () => {
    for (const c of [
      { kind: 'text', text: 'hello' },
      { kind: 'text', text: 'é\u0000\u{1f600}' },
      { kind: 'title', title: 'team' },
      { kind: 'title', title: 't'.repeat(CONVERSATION_LIMITS.titleBytes) },
      { kind: 'leave' },
    ] as const) {
      assert.deepEqual(decodeContent(encodeContent(c)), c);
    }
  });

  it('refuses an empty or oversized body, a leave with a body, an unknown kind, and invalid UTF-8', () => {
    const bad = [
      new Uint8Array(0),
      new Uint8Array([1]),
      new Uint8Array([3, 0x61]),
      new Uint8Array([0, 0x61]),
      new Uint8Array([4]),
      new Uint8Array([1, 0xff]),
      new Uint8Array([2, ...new Uint8Array(CONVERSATION_LIMITS.titleBytes + 1).fill(0x61)]),
    ];
    for (const b of bad)
      assert.throws(
        () => decodeContent(b),
        (e) => isConversationError(e, 'CONVERSATION_MALFORMED'),
      );
    assert.throws(
      () => encodeContent({ kind: 'title', title: 'x'.repeat(CONVERSATION_LIMITS.titleBytes + 1) }),
      (e) => isConversationError(e, 'CONVERSATION_MALFORMED'),
    );
  });

  it('random bytes decode or fail typed, never otherwise', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          decodeContent(b);
        } catch (e) {
          assert.ok(isConversationError(e, 'CONVERSATION_MALFORMED'), String(e));
        }
      }),
    );
  });
});
