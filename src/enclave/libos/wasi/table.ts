/**
 * The WASI preview1 call table, as data: every `wasi_snapshot_preview1` function in spec order,
 * its handler and how completely it is implemented. `Wasi` builds its imports from this table and
 * `scripts/gen-wasi-status.ts` generates `docs/wasi-status.md` from it.
 */
import type { WasiContext } from '../context.ts';
import { args_get, args_sizes_get, environ_get, environ_sizes_get } from './args.ts';
import { clock_res_get, clock_time_get } from './clock.ts';
import * as fd from './fd.ts';
import * as path from './path.ts';
import { poll_oneoff } from './poll.ts';
import { proc_exit, proc_raise, sched_yield } from './proc.ts';
import { random_get } from './random.ts';
import { sock_accept, sock_recv, sock_send, sock_shutdown } from './sock.ts';

/** A call handler: decodes its arguments from `ctx`, returns an errno or throws `WasiError`. */
export type WasiHandler = (ctx: WasiContext, ...args: never[]) => number;

/** How completely a call is implemented (after gVisor's syscall table). */
export type WasiStatus = 'supported' | { partial: string } | 'nosys';

export interface WasiCall {
  name: string;
  handler: WasiHandler;
  status: WasiStatus;
}

export const WASI_CALLS: readonly WasiCall[] = [
  { name: 'args_get', handler: args_get, status: 'supported' },
  { name: 'args_sizes_get', handler: args_sizes_get, status: 'supported' },
  { name: 'environ_get', handler: environ_get, status: 'supported' },
  { name: 'environ_sizes_get', handler: environ_sizes_get, status: 'supported' },
  {
    name: 'clock_res_get',
    handler: clock_res_get,
    status: { partial: 'process and thread CPU-time clocks report the monotonic clock’s resolution' },
  },
  {
    name: 'clock_time_get',
    handler: clock_time_get,
    status: { partial: 'process and thread CPU time are monotonic time since start; precision is ignored' },
  },
  { name: 'fd_advise', handler: fd.fd_advise, status: { partial: 'advice is checked and then ignored' } },
  { name: 'fd_allocate', handler: fd.fd_allocate, status: 'supported' },
  { name: 'fd_close', handler: fd.fd_close, status: 'supported' },
  { name: 'fd_datasync', handler: fd.fd_datasync, status: 'supported' },
  { name: 'fd_fdstat_get', handler: fd.fd_fdstat_get, status: 'supported' },
  {
    name: 'fd_fdstat_set_flags',
    handler: fd.fd_fdstat_set_flags,
    status: {
      partial: 'append and nonblock (on stdin) take effect; dsync, rsync and sync are recorded only',
    },
  },
  { name: 'fd_fdstat_set_rights', handler: fd.fd_fdstat_set_rights, status: 'supported' },
  { name: 'fd_filestat_get', handler: fd.fd_filestat_get, status: 'supported' },
  { name: 'fd_filestat_set_size', handler: fd.fd_filestat_set_size, status: 'supported' },
  { name: 'fd_filestat_set_times', handler: fd.fd_filestat_set_times, status: 'supported' },
  { name: 'fd_pread', handler: fd.fd_pread, status: 'supported' },
  { name: 'fd_prestat_get', handler: fd.fd_prestat_get, status: 'supported' },
  { name: 'fd_prestat_dir_name', handler: fd.fd_prestat_dir_name, status: 'supported' },
  { name: 'fd_pwrite', handler: fd.fd_pwrite, status: 'supported' },
  { name: 'fd_read', handler: fd.fd_read, status: 'supported' },
  { name: 'fd_readdir', handler: fd.fd_readdir, status: 'supported' },
  { name: 'fd_renumber', handler: fd.fd_renumber, status: 'supported' },
  { name: 'fd_seek', handler: fd.fd_seek, status: 'supported' },
  { name: 'fd_sync', handler: fd.fd_sync, status: 'supported' },
  { name: 'fd_tell', handler: fd.fd_tell, status: 'supported' },
  { name: 'fd_write', handler: fd.fd_write, status: 'supported' },
  { name: 'path_create_directory', handler: path.path_create_directory, status: 'supported' },
  { name: 'path_filestat_get', handler: path.path_filestat_get, status: 'supported' },
  { name: 'path_filestat_set_times', handler: path.path_filestat_set_times, status: 'supported' },
  { name: 'path_link', handler: path.path_link, status: 'supported' },
  { name: 'path_open', handler: path.path_open, status: 'supported' },
  { name: 'path_readlink', handler: path.path_readlink, status: 'supported' },
  { name: 'path_remove_directory', handler: path.path_remove_directory, status: 'supported' },
  { name: 'path_rename', handler: path.path_rename, status: 'supported' },
  { name: 'path_symlink', handler: path.path_symlink, status: 'supported' },
  { name: 'path_unlink_file', handler: path.path_unlink_file, status: 'supported' },
  {
    name: 'poll_oneoff',
    handler: poll_oneoff,
    status: {
      partial: 'regular files and console output are always ready; stdin and sockets (--net) can block',
    },
  },
  { name: 'proc_exit', handler: proc_exit, status: 'supported' },
  { name: 'proc_raise', handler: proc_raise, status: 'nosys' },
  { name: 'sched_yield', handler: sched_yield, status: 'supported' },
  { name: 'random_get', handler: random_get, status: 'supported' },
  {
    name: 'sock_accept',
    handler: sock_accept,
    status: { partial: 'TCP listeners of --tcplisten (and cloister_sock listen), with --net' },
  },
  {
    name: 'sock_recv',
    handler: sock_recv,
    status: { partial: 'TCP and UDP with --net (MSG_PEEK on TCP looks ahead at most 256 KiB)' },
  },
  { name: 'sock_send', handler: sock_send, status: { partial: 'TCP and UDP with --net' } },
  { name: 'sock_shutdown', handler: sock_shutdown, status: { partial: 'TCP with --net' } },
];
