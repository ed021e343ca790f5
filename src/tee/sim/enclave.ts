/**
 * The `sim` backend's warning: an enclave is a `worker_threads` Worker running the measured enclave
 * bundle. Like SGX's simulation mode it has the same interfaces and formats as hardware, and NO
 * hardware isolation: the host process can read and change the Worker's memory. Use it to develop
 * and test.
 */
export const SIM_WARNING =
  'warning: sim backend: the enclave runs in a worker thread with NO hardware isolation; the host can read and change it';
