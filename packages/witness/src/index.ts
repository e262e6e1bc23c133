/** @sealpost/witness: follows a directory's key-transparency log, checks it, cosigns tree heads. */
export {};
