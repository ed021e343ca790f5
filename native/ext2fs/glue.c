/*
 * Cloister's C API over e2fsprogs' libext2fs, compiled into ext2fs.wasm (wasm32-wasi reactor).
 *
 * One file system per module instance. Block I/O goes through an io_manager whose read, write and
 * flush are functions imported from JavaScript (module "cloister_io"), so the enclave's block layer
 * (cache, dm-verity, LUKS2, authenticated volumes) serves every byte.
 *
 * Conventions: functions return >= 0 on success and -errno on failure, where errno is a WASI
 * preview1 errno (wasi-libc's <errno.h> values are WASI's). The libext2fs code behind the last failure
 * is kept for cl_last_error_message(). Names are (pointer, length) pairs, not NUL-terminated.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ext2fs/ext2_fs.h"
#include "ext2fs/ext2fs.h"
#include "ext2fs/ext2_err.h"

#define EXPORT(name) __attribute__((export_name(#name))) name
#define IMPORT(name) __attribute__((import_module("cloister_io"), import_name(#name)))

/* Byte-range I/O served by the JavaScript block layer; each returns 0 or a WASI errno. */
IMPORT(read) int js_read(double offset, void *buf, uint32_t len);
IMPORT(write) int js_write(double offset, const void *buf, uint32_t len);
IMPORT(flush) int js_flush(void);

static ext2_filsys fs;
static errcode_t last_error;
static const char *last_message; /* for failures that have no libext2fs code */

/* ---------------------------------------------------------------- io_manager */

#define CL_IO_MAGIC EXT2_ET_MAGIC_UNIX_IO_CHANNEL

static struct struct_io_manager cl_io_manager;

static errcode_t cl_io_open(const char *name, int flags, io_channel *channel) {
	io_channel io;
	(void)flags;
	io = calloc(1, sizeof(*io));
	if (!io)
		return EXT2_ET_NO_MEMORY;
	io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	io->manager = &cl_io_manager;
	io->name = strdup(name ? name : "cloister");
	if (!io->name) {
		free(io);
		return EXT2_ET_NO_MEMORY;
	}
	io->block_size = 1024;
	io->refcount = 1;
	*channel = io;
	return 0;
}

static errcode_t cl_io_close(io_channel io) {
	if (--io->refcount > 0)
		return 0;
	free(io->name);
	free(io);
	return 0;
}

static errcode_t cl_io_set_blksize(io_channel io, int blksize) {
	io->block_size = blksize;
	return 0;
}

/* A negative count is a byte count (libext2fs reads the superblock that way). */
static int64_t io_bytes(io_channel io, int count) {
	return count < 0 ? -(int64_t)count : (int64_t)count * io->block_size;
}

static errcode_t io_result(int rc) {
	if (rc == 0)
		return 0;
	return rc == EIO ? EXT2_ET_SHORT_READ : (errcode_t)rc;
}

static errcode_t cl_io_read64(io_channel io, unsigned long long block, int count, void *data) {
	int64_t len = io_bytes(io, count);
	if (len > UINT32_MAX)
		return EXT2_ET_INVALID_ARGUMENT;
	return io_result(js_read((double)block * io->block_size, data, (uint32_t)len));
}

static errcode_t cl_io_write64(io_channel io, unsigned long long block, int count, const void *data) {
	int64_t len = io_bytes(io, count);
	int rc;
	if (len > UINT32_MAX)
		return EXT2_ET_INVALID_ARGUMENT;
	rc = js_write((double)block * io->block_size, data, (uint32_t)len);
	return rc == 0 ? 0 : rc == EIO ? EXT2_ET_SHORT_WRITE : (errcode_t)rc;
}

static errcode_t cl_io_read(io_channel io, unsigned long block, int count, void *data) {
	return cl_io_read64(io, block, count, data);
}

static errcode_t cl_io_write(io_channel io, unsigned long block, int count, const void *data) {
	return cl_io_write64(io, block, count, data);
}

static errcode_t cl_io_write_byte(io_channel io, unsigned long offset, int size, const void *data) {
	(void)io;
	if (size < 0)
		return EXT2_ET_INVALID_ARGUMENT;
	return js_write((double)offset, data, (uint32_t)size) ? EXT2_ET_SHORT_WRITE : 0;
}

static errcode_t cl_io_flush(io_channel io) {
	(void)io;
	return js_flush() ? EXT2_ET_SHORT_WRITE : 0;
}

static errcode_t cl_io_set_option(io_channel io, const char *option, const char *arg) {
	(void)io;
	(void)option;
	(void)arg;
	return EXT2_ET_INVALID_ARGUMENT;
}

static struct struct_io_manager cl_io_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "Cloister I/O Manager",
	.open = cl_io_open,
	.close = cl_io_close,
	.set_blksize = cl_io_set_blksize,
	.read_blk = cl_io_read,
	.write_blk = cl_io_write,
	.flush = cl_io_flush,
	.write_byte = cl_io_write_byte,
	.set_option = cl_io_set_option,
	.read_blk64 = cl_io_read64,
	.write_blk64 = cl_io_write64,
};

/* ---------------------------------------------------------------- errors */

/* Maps a libext2fs error code to -WASI errno and remembers it for the message. */
static int fail(errcode_t err) {
	last_error = err;
	last_message = NULL;
	if (err > 0 && err < 256)
		return -(int)err;
	switch (err) {
	case EXT2_ET_NO_MEMORY:
		return -ENOMEM;
	case EXT2_ET_FILE_NOT_FOUND:
		return -ENOENT;
	case EXT2_ET_NO_DIRECTORY:
		return -ENOTDIR;
	case EXT2_ET_DIR_EXISTS:
	case EXT2_ET_FILE_EXISTS:
		return -EEXIST;
	case EXT2_ET_RO_FILSYS:
		return -EROFS;
	case EXT2_ET_BLOCK_ALLOC_FAIL:
	case EXT2_ET_INODE_ALLOC_FAIL:
	case EXT2_ET_DIR_NO_SPACE:
	case EXT2_ET_TOOSMALL:
	case EXT2_ET_EA_NO_SPACE:
	case EXT2_ET_INLINE_DATA_NO_SPACE:
		return -ENOSPC;
	case EXT2_ET_FILE_TOO_BIG:
	case EXT2_ET_EXTENT_NOT_SUPPORTED:
		return -EFBIG;
	case EXT2_ET_SYMLINK_LOOP:
		return -ELOOP;
	case EXT2_ET_UNSUPP_FEATURE:
	case EXT2_ET_RO_UNSUPP_FEATURE:
		return -ENOTSUP;
	case EXT2_ET_INVALID_ARGUMENT:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static int fail_errno(int e) {
	last_error = e;
	last_message = NULL;
	return -e;
}

static int fail_message(int e, const char *message) {
	last_error = e;
	last_message = message;
	return -e;
}

/** The libext2fs message for the last failure ("Bad magic number in super-block", ...). */
const char *EXPORT(cl_last_error_message)(void) {
	if (last_message)
		return last_message;
	return last_error ? error_message(last_error) : "";
}

/** The libext2fs error code of the last failure (0 if none). */
int32_t EXPORT(cl_last_error)(void) {
	return (int32_t)last_error;
}

void *EXPORT(cl_alloc)(uint32_t size) {
	return malloc(size ? size : 1);
}

void EXPORT(cl_free)(void *p) {
	free(p);
}

/* ---------------------------------------------------------------- helpers */

#define CHECK_FS()                                                                                  \
	do {                                                                                        \
		if (!fs)                                                                            \
			return fail_errno(EBADF);                                                  \
	} while (0)

#define CHECK_RW()                                                                                  \
	do {                                                                                        \
		CHECK_FS();                                                                         \
		if (!(fs->flags & EXT2_FLAG_RW))                                                    \
			return fail_errno(EROFS);                                                  \
	} while (0)

/* Copies a name into a NUL-terminated buffer after checking it is a valid single component. */
static int take_name(char out[EXT2_NAME_LEN + 1], const char *name, uint32_t len) {
	if (len == 0)
		return -ENOENT;
	if (len > EXT2_NAME_LEN)
		return -ENAMETOOLONG;
	if (memchr(name, '/', len) || memchr(name, 0, len))
		return -EINVAL;
	memcpy(out, name, len);
	out[len] = 0;
	return 0;
}

#define TAKE_NAME(buf, name, len)                                                                   \
	char buf[EXT2_NAME_LEN + 1];                                                                \
	do {                                                                                        \
		int rc_ = take_name(buf, name, len);                                               \
		if (rc_)                                                                            \
			return fail_errno(-rc_);                                                   \
	} while (0)

static int is_dot(const char *name) {
	return !strcmp(name, ".") || !strcmp(name, "..");
}

static void now(int64_t *sec, uint32_t *nsec) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	*sec = ts.tv_sec;
	*nsec = (uint32_t)ts.tv_nsec;
}

/* Whether the large inode's extra area covers a field ending at byte `end` of the inode. */
static int has_extra(const struct ext2_inode_large *inode, size_t end) {
	return EXT2_INODE_SIZE(fs->super) > EXT2_GOOD_OLD_INODE_SIZE &&
	       EXT2_GOOD_OLD_INODE_SIZE + inode->i_extra_isize >= end;
}

#define EXTRA_END(field) (offsetof(struct ext2_inode_large, field) + sizeof(((struct ext2_inode_large *)0)->field))

/* ext4 time encoding: 32 low bits of seconds, then 2 epoch bits and 30 nanosecond bits in _extra. */
static void get_xtime(__u32 base, const __u32 *extra, int64_t *sec, uint32_t *nsec) {
	*sec = (int32_t)base;
	*nsec = 0;
	if (extra) {
		*sec += (int64_t)(*extra & EXT4_EPOCH_MASK) << 32;
		*nsec = *extra >> EXT4_EPOCH_BITS;
	}
}

static void set_xtime(__u32 *base, __u32 *extra, int64_t sec, uint32_t nsec) {
	*base = (__u32)sec;
	if (extra)
		*extra = ((__u32)((sec - (int32_t)*base) >> 32) & EXT4_EPOCH_MASK) | (nsec << EXT4_EPOCH_BITS);
}

#define XTIME_EXTRA(inode, field) (has_extra(inode, EXTRA_END(field)) ? &(inode)->field : NULL)

enum { T_ATIME = 1, T_MTIME = 2, T_CTIME = 4, T_CRTIME = 8 };

static void set_times(struct ext2_inode_large *inode, int which, int64_t sec, uint32_t nsec) {
	if (which & T_ATIME)
		set_xtime(&inode->i_atime, XTIME_EXTRA(inode, i_atime_extra), sec, nsec);
	if (which & T_MTIME)
		set_xtime(&inode->i_mtime, XTIME_EXTRA(inode, i_mtime_extra), sec, nsec);
	if (which & T_CTIME)
		set_xtime(&inode->i_ctime, XTIME_EXTRA(inode, i_ctime_extra), sec, nsec);
	if ((which & T_CRTIME) && has_extra(inode, EXTRA_END(i_crtime_extra)))
		set_xtime(&inode->i_crtime, &inode->i_crtime_extra, sec, nsec);
}

static errcode_t read_inode(ext2_ino_t ino, struct ext2_inode_large *inode) {
	memset(inode, 0, sizeof(*inode));
	return ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)inode, sizeof(*inode));
}

static errcode_t write_inode(ext2_ino_t ino, struct ext2_inode_large *inode) {
	return ext2fs_write_inode_full(fs, ino, (struct ext2_inode *)inode, sizeof(*inode));
}

static int check_ino(ext2_ino_t ino) {
	return ino >= 1 && ino <= fs->super->s_inodes_count;
}

#define CHECK_INO(ino)                                                                              \
	do {                                                                                        \
		if (!check_ino(ino))                                                                \
			return fail_errno(EINVAL);                                                 \
	} while (0)

/* Sets the given timestamps of an inode to now. */
static errcode_t touch(ext2_ino_t ino, int which) {
	struct ext2_inode_large inode;
	int64_t sec;
	uint32_t nsec;
	errcode_t err = read_inode(ino, &inode);
	if (err)
		return err;
	now(&sec, &nsec);
	set_times(&inode, which, sec, nsec);
	return write_inode(ino, &inode);
}

/* Links name -> ino into dir, growing a linear directory by one block when it is full. */
static errcode_t link_entry(ext2_ino_t dir, const char *name, ext2_ino_t ino, int filetype) {
	errcode_t err = ext2fs_link(fs, dir, name, ino, filetype);
	if (err == EXT2_ET_DIR_NO_SPACE) {
		err = ext2fs_expand_dir(fs, dir);
		if (!err)
			err = ext2fs_link(fs, dir, name, ino, filetype);
	}
	return err;
}

static int filetype_of(__u16 mode) {
	if (LINUX_S_ISREG(mode))
		return EXT2_FT_REG_FILE;
	if (LINUX_S_ISDIR(mode))
		return EXT2_FT_DIR;
	if (LINUX_S_ISLNK(mode))
		return EXT2_FT_SYMLINK;
	if (LINUX_S_ISCHR(mode))
		return EXT2_FT_CHRDEV;
	if (LINUX_S_ISBLK(mode))
		return EXT2_FT_BLKDEV;
	if (LINUX_S_ISFIFO(mode))
		return EXT2_FT_FIFO;
	if (LINUX_S_ISSOCK(mode))
		return EXT2_FT_SOCK;
	return EXT2_FT_UNKNOWN;
}

/* Drops one link of an inode whose directory entry is already gone; frees it at zero links. */
static errcode_t drop_link(ext2_ino_t ino, int is_dir) {
	struct ext2_inode_large inode;
	int64_t sec;
	uint32_t nsec;
	errcode_t err = read_inode(ino, &inode);
	if (err)
		return err;
	now(&sec, &nsec);
	if (is_dir)
		inode.i_links_count = 0; /* "." and the parent's entry */
	else if (inode.i_links_count > 0)
		inode.i_links_count--;
	set_times(&inode, T_CTIME, sec, nsec);
	if (inode.i_links_count == 0) {
		inode.i_dtime = (__u32)sec;
		err = ext2fs_free_ext_attr(fs, ino, &inode);
		if (err)
			return err;
		if (ext2fs_inode_has_valid_blocks2(fs, (struct ext2_inode *)&inode)) {
			err = ext2fs_punch(fs, ino, (struct ext2_inode *)&inode, NULL, 0, ~0ULL);
			if (err)
				return err;
		}
		ext2fs_inode_alloc_stats2(fs, ino, -1, is_dir);
	}
	return write_inode(ino, &inode);
}

/* Adds delta to a directory's link count; dir_nlink keeps 1 for directories past the limit. */
static errcode_t adjust_dir_links(ext2_ino_t dir, int delta) {
	struct ext2_inode_large inode;
	errcode_t err = read_inode(dir, &inode);
	if (err)
		return err;
	if (delta > 0) {
		if (inode.i_links_count >= EXT2_LINK_MAX || inode.i_links_count == 1)
			inode.i_links_count = 1;
		else
			inode.i_links_count++;
	} else if (inode.i_links_count > 2) {
		inode.i_links_count--;
	}
	return write_inode(dir, &inode);
}

struct empty_check {
	int empty;
};

static int empty_proc(struct ext2_dir_entry *dirent, int offset, int blocksize, char *buf, void *priv) {
	struct empty_check *ec = priv;
	int len = ext2fs_dirent_name_len(dirent);
	(void)offset;
	(void)blocksize;
	(void)buf;
	if (dirent->inode == 0)
		return 0;
	if ((len == 1 && dirent->name[0] == '.') || (len == 2 && dirent->name[0] == '.' && dirent->name[1] == '.'))
		return 0;
	ec->empty = 0;
	return DIRENT_ABORT;
}

static errcode_t dir_is_empty(ext2_ino_t dir, int *empty) {
	struct empty_check ec = {1};
	errcode_t err = ext2fs_dir_iterate(fs, dir, 0, NULL, empty_proc, &ec);
	*empty = ec.empty;
	return err;
}

/* ---------------------------------------------------------------- file system */

enum { CL_OPEN_RW = 1 };

/** Opens the file system on the JavaScript block device of device_bytes bytes; flags: 1 = read-write. */
int EXPORT(cl_open)(int flags, double device_bytes) {
	errcode_t err;
	int open_flags = EXT2_FLAG_64BITS;
	if (fs)
		return fail_errno(EBUSY);
	last_error = 0;
	last_message = NULL;
	initialize_ext2_error_table();
	if (flags & CL_OPEN_RW)
		open_flags |= EXT2_FLAG_RW;
	err = ext2fs_open2("cloister", NULL, open_flags, 0, 0, &cl_io_manager, &fs);
	if (err) {
		fs = NULL;
		return fail(err);
	}
	/* Checked before anything is written: a truncated image, or a host lying about the size. */
	if ((double)ext2fs_blocks_count(fs->super) * fs->blocksize > device_bytes) {
		ext2fs_free(fs);
		fs = NULL;
		return fail_message(EIO, "the file system is larger than its device (truncated image?)");
	}
	if (flags & CL_OPEN_RW) {
		/* libext2fs cannot replay a journal: writing now would corrupt the file system. */
		if (ext2fs_has_feature_journal_needs_recovery(fs->super)) {
			ext2fs_free(fs);
			fs = NULL;
			return fail(EXT2_ET_RO_UNSUPP_FEATURE);
		}
		err = ext2fs_read_bitmaps(fs);
		if (!err) {
			fs->super->s_mnt_count++;
			fs->super->s_mtime = (__u32)time(NULL);
			ext2fs_mark_super_dirty(fs);
			err = ext2fs_flush2(fs, 0);
		}
		if (err) {
			ext2fs_free(fs);
			fs = NULL;
			return fail(err);
		}
	}
	return 0;
}

/** Writes back all metadata (superblock, descriptors, bitmaps) and flushes the device. */
int EXPORT(cl_flush)(void) {
	errcode_t err;
	CHECK_FS();
	if (!(fs->flags & EXT2_FLAG_RW))
		return 0;
	err = ext2fs_flush2(fs, 0);
	if (!err)
		err = io_channel_flush(fs->io);
	return err ? fail(err) : 0;
}

/** Flushes (when writable) and releases the file system. */
int EXPORT(cl_close)(void) {
	errcode_t err;
	CHECK_FS();
	err = ext2fs_close_free(&fs);
	fs = NULL;
	return err ? fail(err) : 0;
}

/** Fills out[0..7] (u64 each): block size, blocks, free blocks, reserved blocks, inodes, free inodes,
 *  maximum name length, 1 if writable. */
int EXPORT(cl_statfs)(uint64_t *out) {
	CHECK_FS();
	out[0] = fs->blocksize;
	out[1] = ext2fs_blocks_count(fs->super);
	out[2] = ext2fs_free_blocks_count(fs->super);
	out[3] = ext2fs_r_blocks_count(fs->super);
	out[4] = fs->super->s_inodes_count;
	out[5] = fs->super->s_free_inodes_count;
	out[6] = EXT2_NAME_LEN;
	out[7] = (fs->flags & EXT2_FLAG_RW) ? 1 : 0;
	return 0;
}

/* ---------------------------------------------------------------- inodes */

/** Looks name up in directory dir; returns the inode number. */
int EXPORT(cl_lookup)(uint32_t dir, const char *name, uint32_t len) {
	ext2_ino_t ino;
	errcode_t err;
	CHECK_FS();
	CHECK_INO(dir);
	TAKE_NAME(buf, name, len);
	err = ext2fs_lookup(fs, dir, buf, (int)len, NULL, &ino);
	return err ? fail(err) : (int)ino;
}

/* Layout of the stat record written by cl_stat (little-endian, 104 bytes). */
struct cl_stat {
	uint32_t mode, links, uid, gid;
	uint64_t size, blocks512;
	int64_t atime_sec;
	uint32_t atime_nsec, flags;
	int64_t mtime_sec;
	uint32_t mtime_nsec, generation;
	int64_t ctime_sec;
	uint32_t ctime_nsec, rdev;
	int64_t crtime_sec;
	uint32_t crtime_nsec, pad;
};

/** Writes a struct cl_stat for inode ino to out. */
int EXPORT(cl_stat)(uint32_t ino, struct cl_stat *out) {
	struct ext2_inode_large inode;
	errcode_t err;
	CHECK_FS();
	CHECK_INO(ino);
	err = read_inode(ino, &inode);
	if (err)
		return fail(err);
	memset(out, 0, sizeof(*out));
	out->mode = inode.i_mode;
	out->links = inode.i_links_count;
	out->uid = inode_uid(inode);
	out->gid = inode_gid(inode);
	out->size = EXT2_I_SIZE(&inode);
	out->blocks512 = ext2fs_get_stat_i_blocks(fs, (struct ext2_inode *)&inode);
	out->flags = inode.i_flags;
	out->generation = inode.i_generation;
	get_xtime(inode.i_atime, XTIME_EXTRA(&inode, i_atime_extra), &out->atime_sec, &out->atime_nsec);
	get_xtime(inode.i_mtime, XTIME_EXTRA(&inode, i_mtime_extra), &out->mtime_sec, &out->mtime_nsec);
	get_xtime(inode.i_ctime, XTIME_EXTRA(&inode, i_ctime_extra), &out->ctime_sec, &out->ctime_nsec);
	if (has_extra(&inode, EXTRA_END(i_crtime_extra)))
		get_xtime(inode.i_crtime, &inode.i_crtime_extra, &out->crtime_sec, &out->crtime_nsec);
	if (LINUX_S_ISCHR(inode.i_mode) || LINUX_S_ISBLK(inode.i_mode))
		out->rdev = inode.i_block[0] ? inode.i_block[0] : inode.i_block[1];
	if (inode.i_links_count == 0 && inode.i_mode == 0)
		return fail_errno(ENOENT);
	return 0;
}

/** Reads up to len bytes at offset of a file into buf; returns the count (0 at end of file). */
int EXPORT(cl_read)(uint32_t ino, double offset, void *buf, uint32_t len) {
	ext2_file_t file;
	struct ext2_inode inode;
	unsigned int got = 0;
	errcode_t err, err2;
	CHECK_FS();
	CHECK_INO(ino);
	if (offset < 0 || len > INT32_MAX)
		return fail_errno(EINVAL);
	err = ext2fs_read_inode(fs, ino, &inode);
	if (err)
		return fail(err);
	if (LINUX_S_ISDIR(inode.i_mode))
		return fail_errno(EISDIR);
	/* A fast symlink's i_block holds text, not block numbers: only regular files are read here. */
	if (!LINUX_S_ISREG(inode.i_mode))
		return fail_errno(EINVAL);
	err = ext2fs_file_open2(fs, ino, &inode, 0, &file);
	if (err)
		return fail(err);
	err = ext2fs_file_llseek(file, (__u64)offset, EXT2_SEEK_SET, NULL);
	if (!err)
		err = ext2fs_file_read(file, buf, len, &got);
	err2 = ext2fs_file_close(file);
	if (err)
		return fail(err);
	if (err2)
		return fail(err2);
	return (int)got;
}

/** Writes len bytes at offset (allocating blocks); returns the count, short only when space ran out. */
int EXPORT(cl_write)(uint32_t ino, double offset, const void *buf, uint32_t len) {
	ext2_file_t file;
	struct ext2_inode_large inode;
	unsigned int put = 0;
	errcode_t err, err2;
	CHECK_RW();
	CHECK_INO(ino);
	if (offset < 0 || len > INT32_MAX)
		return fail_errno(EINVAL);
	if (offset + len > (double)(1ULL << 44))
		return fail_errno(EFBIG);
	err = read_inode(ino, &inode);
	if (err)
		return fail(err);
	if (LINUX_S_ISDIR(inode.i_mode))
		return fail_errno(EISDIR);
	if (!LINUX_S_ISREG(inode.i_mode))
		return fail_errno(EINVAL);
	if (len == 0)
		return 0;
	err = ext2fs_file_open(fs, ino, EXT2_FILE_WRITE, &file);
	if (err)
		return fail(err);
	err = ext2fs_file_llseek(file, (__u64)offset, EXT2_SEEK_SET, NULL);
	if (!err)
		err = ext2fs_file_write(file, buf, len, &put);
	err2 = ext2fs_file_close(file);
	if (!err)
		err = err2;
	err2 = touch(ino, T_MTIME | T_CTIME);
	if (!err && put == len)
		err = err2;
	if (err && put == 0)
		return fail(err);
	if (err)
		last_error = err;
	return (int)put;
}

/** Sets a file's size, freeing blocks past it or leaving a hole up to it. */
int EXPORT(cl_truncate)(uint32_t ino, double size) {
	ext2_file_t file;
	struct ext2_inode inode;
	errcode_t err, err2;
	CHECK_RW();
	CHECK_INO(ino);
	if (size < 0)
		return fail_errno(EINVAL);
	if (size > (double)(1ULL << 44))
		return fail_errno(EFBIG);
	err = ext2fs_read_inode(fs, ino, &inode);
	if (err)
		return fail(err);
	if (LINUX_S_ISDIR(inode.i_mode))
		return fail_errno(EISDIR);
	if (!LINUX_S_ISREG(inode.i_mode))
		return fail_errno(EINVAL);
	err = ext2fs_file_open(fs, ino, EXT2_FILE_WRITE, &file);
	if (err)
		return fail(err);
	err = ext2fs_file_set_size2(file, (ext2_off64_t)size);
	err2 = ext2fs_file_close(file);
	if (!err)
		err = err2;
	if (!err)
		err = touch(ino, T_MTIME | T_CTIME);
	return err ? fail(err) : 0;
}

/* Allocates and writes a fresh inode for a regular file or special file. */
static errcode_t new_inode(ext2_ino_t dir, uint32_t mode, uint32_t uid, uint32_t gid, ext2_ino_t *ino_out) {
	int size = EXT2_INODE_SIZE(fs->super);
	struct ext2_inode_large *inode;
	ext2_ino_t ino;
	int64_t sec;
	uint32_t nsec;
	errcode_t err = ext2fs_new_inode(fs, dir, (int)mode, NULL, &ino);
	if (err)
		return err;
	inode = calloc(1, size > (int)sizeof(*inode) ? (size_t)size : sizeof(*inode));
	if (!inode)
		return EXT2_ET_NO_MEMORY;
	inode->i_mode = (__u16)mode;
	inode->i_links_count = 1;
	inode->i_uid = (__u16)uid;
	ext2fs_set_i_uid_high(*inode, uid >> 16);
	inode->i_gid = (__u16)gid;
	ext2fs_set_i_gid_high(*inode, gid >> 16);
	if (size > EXT2_GOOD_OLD_INODE_SIZE)
		inode->i_extra_isize = sizeof(struct ext2_inode_large) - EXT2_GOOD_OLD_INODE_SIZE;
	now(&sec, &nsec);
	set_times(inode, T_ATIME | T_MTIME | T_CTIME | T_CRTIME, sec, nsec);
	if (ext2fs_has_feature_extents(fs->super) && LINUX_S_ISREG(mode)) {
		struct ext3_extent_header *eh = (struct ext3_extent_header *)inode->i_block;
		inode->i_flags |= EXT4_EXTENTS_FL;
		eh->eh_magic = ext2fs_cpu_to_le16(EXT3_EXT_MAGIC);
		eh->eh_depth = 0;
		eh->eh_entries = 0;
		eh->eh_max = ext2fs_cpu_to_le16((sizeof(inode->i_block) - sizeof(*eh)) / sizeof(struct ext3_extent));
	}
	err = ext2fs_write_inode_full(fs, ino, (struct ext2_inode *)inode, size);
	free(inode);
	if (err)
		return err;
	ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
	*ino_out = ino;
	return 0;
}

/** Creates a regular file (or other non-directory by mode type bits) named name in dir. */
int EXPORT(cl_create)(uint32_t dir, const char *name, uint32_t len, uint32_t mode, uint32_t uid, uint32_t gid) {
	ext2_ino_t ino;
	errcode_t err;
	CHECK_RW();
	CHECK_INO(dir);
	TAKE_NAME(buf, name, len);
	if ((mode & LINUX_S_IFMT) == 0)
		mode |= LINUX_S_IFREG;
	if (LINUX_S_ISDIR(mode) || LINUX_S_ISLNK(mode))
		return fail_errno(EINVAL);
	err = ext2fs_lookup(fs, dir, buf, (int)len, NULL, &ino);
	if (!err)
		return fail_errno(EEXIST);
	if (err != EXT2_ET_FILE_NOT_FOUND)
		return fail(err);
	err = new_inode(dir, mode & 0xffff, uid, gid, &ino);
	if (err)
		return fail(err);
	err = link_entry(dir, buf, ino, filetype_of((__u16)mode));
	if (err) {
		drop_link(ino, 0);
		return fail(err);
	}
	err = touch(dir, T_MTIME | T_CTIME);
	return err ? fail(err) : (int)ino;
}

/* Sets owner, permission bits and all timestamps of an inode made by a libext2fs helper. */
static errcode_t finish_new(ext2_ino_t ino, uint32_t perm, int set_perm, uint32_t uid, uint32_t gid) {
	struct ext2_inode_large inode;
	int64_t sec;
	uint32_t nsec;
	errcode_t err = read_inode(ino, &inode);
	if (err)
		return err;
	if (set_perm)
		inode.i_mode = (__u16)((inode.i_mode & LINUX_S_IFMT) | (perm & 07777));
	inode.i_uid = (__u16)uid;
	ext2fs_set_i_uid_high(inode, uid >> 16);
	inode.i_gid = (__u16)gid;
	ext2fs_set_i_gid_high(inode, gid >> 16);
	now(&sec, &nsec);
	set_times(&inode, T_ATIME | T_MTIME | T_CTIME | T_CRTIME, sec, nsec);
	return write_inode(ino, &inode);
}

/* Fails with EEXIST if dir already has an entry name (libext2fs's own checks leave a stale inode). */
static errcode_t check_absent(ext2_ino_t dir, const char *name) {
	ext2_ino_t existing;
	errcode_t err = ext2fs_lookup(fs, dir, name, (int)strlen(name), NULL, &existing);
	if (!err)
		return EXT2_ET_FILE_EXISTS;
	return err == EXT2_ET_FILE_NOT_FOUND ? 0 : err;
}

/** Creates directory name in dir with permission bits mode; returns its inode number. */
int EXPORT(cl_mkdir)(uint32_t dir, const char *name, uint32_t len, uint32_t mode, uint32_t uid, uint32_t gid) {
	ext2_ino_t ino;
	errcode_t err;
	CHECK_RW();
	CHECK_INO(dir);
	TAKE_NAME(buf, name, len);
	err = check_absent(dir, buf);
	if (!err)
		err = ext2fs_new_inode(fs, dir, LINUX_S_IFDIR | 0755, NULL, &ino);
	/* Without a name, ext2fs_mkdir builds the inode and counts the parent's new link; the
	 * entry itself is linked below. */
	if (!err)
		err = ext2fs_mkdir(fs, dir, ino, NULL);
	if (err)
		return fail(err);
	err = link_entry(dir, buf, ino, EXT2_FT_DIR);
	if (err) {
		drop_link(ino, 1);
		adjust_dir_links(dir, -1);
		return fail(err);
	}
	err = finish_new(ino, mode, 1, uid, gid);
	if (!err)
		err = touch(dir, T_MTIME | T_CTIME);
	return err ? fail(err) : (int)ino;
}

/** Creates symbolic link name in dir pointing at target; returns its inode number. */
int EXPORT(cl_symlink)(uint32_t dir, const char *name, uint32_t len, const char *target, uint32_t tlen,
		       uint32_t uid, uint32_t gid) {
	ext2_ino_t ino;
	errcode_t err;
	char *tbuf;
	CHECK_RW();
	CHECK_INO(dir);
	TAKE_NAME(buf, name, len);
	if (tlen == 0 || memchr(target, 0, tlen))
		return fail_errno(tlen == 0 ? ENOENT : EINVAL);
	if (tlen >= fs->blocksize)
		return fail_errno(ENAMETOOLONG);
	err = check_absent(dir, buf);
	if (err)
		return fail(err);
	tbuf = malloc(tlen + 1);
	if (!tbuf)
		return fail_errno(ENOMEM);
	memcpy(tbuf, target, tlen);
	tbuf[tlen] = 0;
	err = ext2fs_new_inode(fs, dir, LINUX_S_IFLNK | 0777, NULL, &ino);
	if (!err)
		err = ext2fs_symlink(fs, dir, ino, NULL, tbuf);
	free(tbuf);
	if (err)
		return fail(err);
	err = link_entry(dir, buf, ino, EXT2_FT_SYMLINK);
	if (err) {
		drop_link(ino, 0);
		return fail(err);
	}
	err = finish_new(ino, 0, 0, uid, gid);
	if (!err)
		err = touch(dir, T_MTIME | T_CTIME);
	return err ? fail(err) : (int)ino;
}

/** Copies a symlink's target into buf (at most cap bytes); returns its length. */
int EXPORT(cl_readlink)(uint32_t ino, char *buf, uint32_t cap) {
	struct ext2_inode inode;
	ext2_file_t file;
	unsigned int got = 0;
	uint32_t size;
	errcode_t err, err2;
	CHECK_FS();
	CHECK_INO(ino);
	err = ext2fs_read_inode(fs, ino, &inode);
	if (err)
		return fail(err);
	if (!LINUX_S_ISLNK(inode.i_mode))
		return fail_errno(EINVAL);
	size = inode.i_size;
	if (size > cap || size >= fs->blocksize)
		return fail_errno(size > cap ? ERANGE : EIO);
	if (ext2fs_is_fast_symlink(&inode)) {
		memcpy(buf, inode.i_block, size);
		return (int)size;
	}
	err = ext2fs_file_open2(fs, ino, &inode, 0, &file);
	if (err)
		return fail(err);
	err = ext2fs_file_read(file, buf, size, &got);
	err2 = ext2fs_file_close(file);
	if (!err)
		err = err2;
	if (!err && got != size)
		err = EXT2_ET_SHORT_READ;
	return err ? fail(err) : (int)got;
}

/** Adds a hard link name in dir to the non-directory inode ino. */
int EXPORT(cl_link)(uint32_t ino, uint32_t dir, const char *name, uint32_t len) {
	struct ext2_inode_large inode;
	ext2_ino_t existing;
	errcode_t err;
	CHECK_RW();
	CHECK_INO(ino);
	CHECK_INO(dir);
	TAKE_NAME(buf, name, len);
	err = read_inode(ino, &inode);
	if (err)
		return fail(err);
	if (LINUX_S_ISDIR(inode.i_mode))
		return fail_errno(EPERM);
	if (inode.i_links_count >= EXT2_LINK_MAX)
		return fail_errno(EMLINK);
	err = ext2fs_lookup(fs, dir, buf, (int)len, NULL, &existing);
	if (!err)
		return fail_errno(EEXIST);
	if (err != EXT2_ET_FILE_NOT_FOUND)
		return fail(err);
	err = link_entry(dir, buf, ino, filetype_of(inode.i_mode));
	if (err)
		return fail(err);
	err = read_inode(ino, &inode);
	if (!err) {
		int64_t sec;
		uint32_t nsec;
		inode.i_links_count++;
		now(&sec, &nsec);
		set_times(&inode, T_CTIME, sec, nsec);
		err = write_inode(ino, &inode);
	}
	if (!err)
		err = touch(dir, T_MTIME | T_CTIME);
	return err ? fail(err) : 0;
}

/** Removes the non-directory entry name from dir, freeing the inode at its last link. */
int EXPORT(cl_unlink)(uint32_t dir, const char *name, uint32_t len) {
	struct ext2_inode inode;
	ext2_ino_t ino;
	errcode_t err;
	CHECK_RW();
	CHECK_INO(dir);
	TAKE_NAME(buf, name, len);
	err = ext2fs_lookup(fs, dir, buf, (int)len, NULL, &ino);
	if (err)
		return fail(err);
	err = ext2fs_read_inode(fs, ino, &inode);
	if (err)
		return fail(err);
	if (LINUX_S_ISDIR(inode.i_mode))
		return fail_errno(EISDIR);
	err = ext2fs_unlink(fs, dir, buf, ino, 0);
	if (!err)
		err = drop_link(ino, 0);
	if (!err)
		err = touch(dir, T_MTIME | T_CTIME);
	return err ? fail(err) : 0;
}

/** Removes the empty directory name from dir. */
int EXPORT(cl_rmdir)(uint32_t dir, const char *name, uint32_t len) {
	struct ext2_inode inode;
	ext2_ino_t ino;
	int empty;
	errcode_t err;
	CHECK_RW();
	CHECK_INO(dir);
	TAKE_NAME(buf, name, len);
	if (!strcmp(buf, "."))
		return fail_errno(EINVAL);
	if (!strcmp(buf, ".."))
		return fail_errno(ENOTEMPTY);
	err = ext2fs_lookup(fs, dir, buf, (int)len, NULL, &ino);
	if (err)
		return fail(err);
	err = ext2fs_read_inode(fs, ino, &inode);
	if (err)
		return fail(err);
	if (!LINUX_S_ISDIR(inode.i_mode))
		return fail_errno(ENOTDIR);
	err = dir_is_empty(ino, &empty);
	if (err)
		return fail(err);
	if (!empty)
		return fail_errno(ENOTEMPTY);
	err = ext2fs_unlink(fs, dir, buf, ino, 0);
	if (!err)
		err = drop_link(ino, 1);
	if (!err)
		err = adjust_dir_links(dir, -1);
	if (!err)
		err = touch(dir, T_MTIME | T_CTIME);
	return err ? fail(err) : 0;
}

struct dotdot_set {
	ext2_ino_t parent;
	int done;
};

static int dotdot_proc(struct ext2_dir_entry *dirent, int offset, int blocksize, char *buf, void *priv) {
	struct dotdot_set *ds = priv;
	(void)offset;
	(void)blocksize;
	(void)buf;
	if (ext2fs_dirent_name_len(dirent) == 2 && dirent->name[0] == '.' && dirent->name[1] == '.') {
		dirent->inode = ds->parent;
		ds->done = 1;
		return DIRENT_ABORT | DIRENT_CHANGED;
	}
	return 0;
}

/* Whether directory `ancestor` is dir or one of its ancestors (walking ".." up to the root). */
static errcode_t is_ancestor(ext2_ino_t ancestor, ext2_ino_t dir, int *result) {
	int hops;
	*result = 0;
	for (hops = 0; hops < 65536; hops++) {
		ext2_ino_t up;
		errcode_t err;
		if (dir == ancestor) {
			*result = 1;
			return 0;
		}
		if (dir == EXT2_ROOT_INO)
			return 0;
		err = ext2fs_lookup(fs, dir, "..", 2, NULL, &up);
		if (err)
			return err;
		dir = up;
	}
	return EXT2_ET_DIR_CORRUPTED;
}

/** Renames sdir/sname to ddir/dname, replacing a compatible destination (POSIX rename). */
int EXPORT(cl_rename)(uint32_t sdir, const char *sname, uint32_t slen, uint32_t ddir, const char *dname,
		      uint32_t dlen) {
	struct ext2_inode src_inode, dst_inode;
	ext2_ino_t src, dst = 0;
	int src_is_dir, dst_is_dir = 0;
	errcode_t err;
	CHECK_RW();
	CHECK_INO(sdir);
	CHECK_INO(ddir);
	TAKE_NAME(sbuf, sname, slen);
	TAKE_NAME(dbuf, dname, dlen);
	if (is_dot(sbuf) || is_dot(dbuf))
		return fail_errno(EINVAL);
	err = ext2fs_lookup(fs, sdir, sbuf, (int)slen, NULL, &src);
	if (err)
		return fail(err);
	err = ext2fs_read_inode(fs, src, &src_inode);
	if (err)
		return fail(err);
	src_is_dir = LINUX_S_ISDIR(src_inode.i_mode);
	err = ext2fs_lookup(fs, ddir, dbuf, (int)dlen, NULL, &dst);
	if (err && err != EXT2_ET_FILE_NOT_FOUND)
		return fail(err);
	if (err)
		dst = 0;
	if (dst == src)
		return 0;
	if (dst) {
		err = ext2fs_read_inode(fs, dst, &dst_inode);
		if (err)
			return fail(err);
		dst_is_dir = LINUX_S_ISDIR(dst_inode.i_mode);
		if (src_is_dir && !dst_is_dir)
			return fail_errno(ENOTDIR);
		if (!src_is_dir && dst_is_dir)
			return fail_errno(EISDIR);
		if (dst_is_dir) {
			int empty;
			err = dir_is_empty(dst, &empty);
			if (err)
				return fail(err);
			if (!empty)
				return fail_errno(ENOTEMPTY);
		}
	}
	if (src_is_dir && sdir != ddir) {
		int inside;
		err = is_ancestor(src, ddir, &inside);
		if (err)
			return fail(err);
		if (inside)
			return fail_errno(EINVAL);
	}
	if (dst) {
		err = ext2fs_unlink(fs, ddir, dbuf, dst, 0);
		if (!err)
			err = drop_link(dst, dst_is_dir);
		if (!err && dst_is_dir)
			err = adjust_dir_links(ddir, -1);
		if (err)
			return fail(err);
	}
	err = link_entry(ddir, dbuf, src, filetype_of(src_inode.i_mode));
	if (!err)
		err = ext2fs_unlink(fs, sdir, sbuf, src, 0);
	if (!err && src_is_dir && sdir != ddir) {
		struct dotdot_set ds = {ddir, 0};
		err = ext2fs_dir_iterate(fs, src, 0, NULL, dotdot_proc, &ds);
		if (!err && !ds.done)
			err = EXT2_ET_DIR_CORRUPTED;
		if (!err)
			err = adjust_dir_links(sdir, -1);
		if (!err)
			err = adjust_dir_links(ddir, +1);
	}
	if (!err)
		err = touch(src, T_CTIME);
	if (!err)
		err = touch(sdir, T_MTIME | T_CTIME);
	if (!err && ddir != sdir)
		err = touch(ddir, T_MTIME | T_CTIME);
	return err ? fail(err) : 0;
}

/** Sets atime and/or mtime (which: 1 = atime, 2 = mtime) and ctime to now. */
int EXPORT(cl_set_times)(uint32_t ino, int which, double atime_sec, uint32_t atime_nsec, double mtime_sec,
			 uint32_t mtime_nsec) {
	struct ext2_inode_large inode;
	int64_t sec;
	uint32_t nsec;
	errcode_t err;
	CHECK_RW();
	CHECK_INO(ino);
	if (atime_nsec >= 1000000000 || mtime_nsec >= 1000000000)
		return fail_errno(EINVAL);
	err = read_inode(ino, &inode);
	if (err)
		return fail(err);
	if (which & T_ATIME)
		set_times(&inode, T_ATIME, (int64_t)atime_sec, atime_nsec);
	if (which & T_MTIME)
		set_times(&inode, T_MTIME, (int64_t)mtime_sec, mtime_nsec);
	now(&sec, &nsec);
	set_times(&inode, T_CTIME, sec, nsec);
	err = write_inode(ino, &inode);
	return err ? fail(err) : 0;
}

/** Sets the permission bits (07777) of an inode, keeping its type. */
int EXPORT(cl_chmod)(uint32_t ino, uint32_t mode) {
	struct ext2_inode_large inode;
	int64_t sec;
	uint32_t nsec;
	errcode_t err;
	CHECK_RW();
	CHECK_INO(ino);
	err = read_inode(ino, &inode);
	if (err)
		return fail(err);
	inode.i_mode = (__u16)((inode.i_mode & LINUX_S_IFMT) | (mode & 07777));
	now(&sec, &nsec);
	set_times(&inode, T_CTIME, sec, nsec);
	err = write_inode(ino, &inode);
	return err ? fail(err) : 0;
}

/** Sets the owner and group of an inode. */
int EXPORT(cl_chown)(uint32_t ino, uint32_t uid, uint32_t gid) {
	struct ext2_inode_large inode;
	int64_t sec;
	uint32_t nsec;
	errcode_t err;
	CHECK_RW();
	CHECK_INO(ino);
	err = read_inode(ino, &inode);
	if (err)
		return fail(err);
	inode.i_uid = (__u16)uid;
	ext2fs_set_i_uid_high(inode, uid >> 16);
	inode.i_gid = (__u16)gid;
	ext2fs_set_i_gid_high(inode, gid >> 16);
	now(&sec, &nsec);
	set_times(&inode, T_CTIME, sec, nsec);
	err = write_inode(ino, &inode);
	return err ? fail(err) : 0;
}

/* ---------------------------------------------------------------- directories */

struct listing {
	uint8_t *buf;
	uint32_t len, cap;
	errcode_t err;
};

static int list_proc(struct ext2_dir_entry *dirent, int offset, int blocksize, char *buf, void *priv) {
	struct listing *l = priv;
	uint32_t n = (uint32_t)ext2fs_dirent_name_len(dirent);
	uint32_t need = 6 + n;
	(void)offset;
	(void)blocksize;
	(void)buf;
	if (dirent->inode == 0)
		return 0;
	if (l->len + need > l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 4096;
		uint8_t *grown;
		while (cap < l->len + need)
			cap *= 2;
		grown = realloc(l->buf, cap);
		if (!grown) {
			l->err = EXT2_ET_NO_MEMORY;
			return DIRENT_ABORT;
		}
		l->buf = grown;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, &dirent->inode, 4);
	l->buf[l->len + 4] = (uint8_t)ext2fs_dirent_file_type(dirent);
	l->buf[l->len + 5] = (uint8_t)n;
	memcpy(l->buf + l->len + 6, dirent->name, n);
	l->len += need;
	return 0;
}

/**
 * Lists directory dir into a malloc'd buffer of records (u32 inode, u8 file type, u8 name length,
 * name); stores the buffer pointer at out[0] and its length at out[1]. The caller frees it.
 */
int EXPORT(cl_readdir)(uint32_t dir, uint32_t *out) {
	struct listing l = {NULL, 0, 0, 0};
	errcode_t err;
	CHECK_FS();
	CHECK_INO(dir);
	err = ext2fs_dir_iterate(fs, dir, 0, NULL, list_proc, &l);
	if (!err)
		err = l.err;
	if (err) {
		free(l.buf);
		return fail(err);
	}
	out[0] = (uint32_t)(uintptr_t)l.buf;
	out[1] = l.len;
	return 0;
}
