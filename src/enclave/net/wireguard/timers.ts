/** WireGuard's protocol constants (whitepaper §6.1), in milliseconds and messages. */
export const REKEY_AFTER_MESSAGES = 2 ** 60;
/** 2^64 - 2^13 - 1 in the whitepaper; counters here are safe integers, so they stop earlier. */
export const REJECT_AFTER_MESSAGES = Number.MAX_SAFE_INTEGER;
export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
export const KEEPALIVE_TIMEOUT = 10_000;
/** A peer's initiations are consumed at most this often (wireguard-go's handshake rate). */
export const INITIATION_MIN_INTERVAL = 20;
