/** Host (Node/libuv) error codes to the WASI errno values the host interface speaks. */
import { Errno } from '../interface/errno.ts';

const byCode: Record<string, number> = {
  EACCES: Errno.ACCES,
  EPERM: Errno.PERM,
  ENOENT: Errno.NOENT,
  EEXIST: Errno.EXIST,
  ENOTDIR: Errno.NOTDIR,
  EISDIR: Errno.ISDIR,
  ENOTEMPTY: Errno.NOTEMPTY,
  ENOSPC: Errno.NOSPC,
  EDQUOT: Errno.DQUOT,
  EROFS: Errno.ROFS,
  ENAMETOOLONG: Errno.NAMETOOLONG,
  ELOOP: Errno.LOOP,
  EBUSY: Errno.BUSY,
  EXDEV: Errno.XDEV,
  EMLINK: Errno.MLINK,
  EFBIG: Errno.FBIG,
  EINVAL: Errno.INVAL,
  ENOTSUP: Errno.NOTSUP,
  EOPNOTSUPP: Errno.NOTSUP,
  EBADF: Errno.BADF,
  EIO: Errno.IO,
  EPIPE: Errno.PIPE,
};

/** The errno for a thrown host error; anything unknown is EIO. */
export function errnoOf(error: unknown): number {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? (byCode[code] ?? Errno.IO) : Errno.IO;
}
