/**
 * Where the recovery code comes from when a command is run with `--recovery-code`:
 * SEALPOST_RECOVERY_CODE (scripts and tests), else a prompt on the terminal that echoes nothing
 * (passphrase.ts). Never a command-line argument: it would land in the shell's history and in
 * every process listing. The parsed secret is the caller's to wipe.
 */
import { ValidationError } from '@sealpost/core';
import { parseRecoveryCode } from '@sealpost/core/identity/recovery-key';
import { nodeCryptoProvider as crypto } from '@sealpost/core/node';
import { promptHidden, type PassphraseIo } from './passphrase.ts';

export const RECOVERY_CODE_ENV = 'SEALPOST_RECOVERY_CODE';

/** The recovery secret of the code typed or set; IDENTITY_RECOVERY_CODE_INVALID for a mistyped one. */
export async function readRecoveryCode(io: PassphraseIo): Promise<Uint8Array> {
  const fromEnv = io.env[RECOVERY_CODE_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return parseRecoveryCode(crypto, fromEnv);
  if (io.input.isTTY !== true || typeof io.input.setRawMode !== 'function') {
    throw new ValidationError(
      'VALIDATION_FAILED',
      `no recovery code: set ${RECOVERY_CODE_ENV} or run the command on a terminal`,
    );
  }
  const typed = await promptHidden(io, 'Recovery code: ');
  try {
    // parseRecoveryCode takes a string: this one copy of the code cannot be wiped.
    return parseRecoveryCode(crypto, new TextDecoder().decode(typed));
  } finally {
    typed.fill(0);
  }
}
