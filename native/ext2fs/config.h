/*
 * Hand-written config.h for building e2fsprogs' lib/ext2fs and lib/et as a wasm32-wasi reactor
 * (the native configure's config.h claims 64-bit long, pthreads, mmap and __thread).
 */
#define HAVE_ERRNO_H 1
#define HAVE_INTTYPES_H 1
#define HAVE_STDARG_H 1
#define HAVE_STDINT_H 1
#define HAVE_STDLIB_H 1
#define HAVE_STRINGS_H 1
#define HAVE_STRING_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TIME_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_UNISTD_H 1
#define HAVE_FCNTL 1
#define HAVE_POSIX_MEMALIGN 1
#define HAVE_SNPRINTF 1
#define HAVE_STRDUP 1
#define HAVE_STRNLEN 1
#define HAVE_STRTOULL 1
#define HAVE_TYPE_SSIZE_T 1
#define HAVE_VPRINTF 1
#define HAVE_INTPTR_T 1
#define SIZEOF_INT 4
#define SIZEOF_LONG 4
#define SIZEOF_LONG_LONG 8
#define SIZEOF_OFF_T 8
#define SIZEOF_SHORT 2
#define SIZEOF_TIME_T 8
#define _GNU_SOURCE 1
