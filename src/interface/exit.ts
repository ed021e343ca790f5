/** Why an enclave ended: arg1 of the `exit` host call. */
export const ExitKind = {
  /** The program called `proc_exit` or returned from `_start`. */
  PROGRAM: 0,
  /** The enclave could not start the program (bad module, missing import, memory limit...). */
  STARTUP_ERROR: 1,
  /** The program trapped; the message names the trap and, where known, the function. */
  TRAP: 2,
  /** The host broke the host-interface protocol; the enclave stopped itself. */
  HOST_VIOLATION: 3,
} as const;

/** Exit status of a trapped program, as a shell reports SIGABRT. */
export const TRAP_STATUS = 134;
