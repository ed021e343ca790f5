/*
 * The volume tool: the WASI program `cloister volume ls|cp|rm|fsck` runs in the enclave, with the
 * volume mounted at /vol (and, for cp, the host file's folder at /host). It sees the volume only
 * through the enclave's library OS, so every block it reads is decrypted and authenticated there.
 *
 *   volume-tool ls PATH          one line per entry: type, size, name (a file: itself)
 *   volume-tool cp SRC DST       copy one regular file (written to DST, then fsync)
 *   volume-tool rm [-r] PATH     remove a file, an empty directory, or (-r) a whole tree
 *   volume-tool fsck ROOT        walk the tree: every directory lists, every file reads back in
 *                                full, link counts match the names found; exit 1 on any problem
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;

/* A path as the user names it: inside the volume (mounted at /vol) from its root. */
static const char *shown(const char *path) {
  if (strncmp(path, "/vol", 4) == 0 && (path[4] == '/' || path[4] == 0)) return path[4] ? path + 4 : "/";
  return path;
}

static void problem(const char *path, const char *what) {
  fprintf(stderr, "%s: %s\n", shown(path), what);
  failures++;
}

static char type_char(mode_t mode) {
  if (S_ISDIR(mode)) return 'd';
  if (S_ISLNK(mode)) return 'l';
  if (S_ISREG(mode)) return '-';
  return '?';
}

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir), m = strlen(name);
  char *out = malloc(n + m + 2);
  if (!out) {
    fputs("out of memory\n", stderr);
    exit(1);
  }
  memcpy(out, dir, n);
  size_t at = n;
  if (n == 0 || dir[n - 1] != '/') out[at++] = '/';
  memcpy(out + at, name, m + 1);
  return out;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in `path` except . and .., sorted; NULL (and errno) if it cannot be listed. */
static char **list_names(const char *path, size_t *count) {
  DIR *dir = opendir(path);
  if (!dir) return NULL;
  size_t cap = 16, n = 0;
  char **names = malloc(cap * sizeof *names);
  struct dirent *e;
  errno = 0;
  while (names && (e = readdir(dir)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (n == cap) names = realloc(names, (cap *= 2) * sizeof *names);
    if (names) names[n++] = strdup(e->d_name);
  }
  int error = errno;
  closedir(dir);
  if (!names || error) {
    errno = names ? error : ENOMEM;
    return NULL;
  }
  qsort(names, n, sizeof *names, compare_names);
  *count = n;
  return names;
}

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

static int ls(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) {
    fprintf(stderr, "%s: %s\n", shown(path), strerror(errno));
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) {
    const char *slash = strrchr(path, '/');
    printf("%c %12lld %s\n", type_char(st.st_mode), (long long)st.st_size, slash ? slash + 1 : path);
    return 0;
  }
  size_t n;
  char **names = list_names(path, &n);
  if (!names) {
    fprintf(stderr, "%s: %s\n", shown(path), strerror(errno));
    return 1;
  }
  int status = 0;
  for (size_t i = 0; i < n; i++) {
    char *full = join(path, names[i]);
    if (lstat(full, &st) != 0) {
      fprintf(stderr, "%s: %s\n", shown(full), strerror(errno));
      status = 1;
    } else {
      printf("%c %12lld %s%s\n", type_char(st.st_mode), (long long)st.st_size, names[i],
             S_ISDIR(st.st_mode) ? "/" : "");
    }
    free(full);
  }
  free_names(names, n);
  return status;
}

static char buffer[1 << 16];

static int cp(const char *from, const char *to) {
  struct stat st;
  if (stat(from, &st) != 0) {
    fprintf(stderr, "%s: %s\n", shown(from), strerror(errno));
    return 1;
  }
  if (!S_ISREG(st.st_mode)) {
    fprintf(stderr, "%s: not a regular file\n", shown(from));
    return 1;
  }
  int in = open(from, O_RDONLY);
  if (in < 0) {
    fprintf(stderr, "%s: %s\n", shown(from), strerror(errno));
    return 1;
  }
  /* Into a directory: under the source's name, as cp does. */
  char *into = NULL;
  struct stat target;
  if (stat(to, &target) == 0 && S_ISDIR(target.st_mode)) {
    const char *slash = strrchr(from, '/');
    to = into = join(to, slash ? slash + 1 : from);
  }
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0) {
    fprintf(stderr, "%s: %s\n", shown(to), strerror(errno));
    close(in);
    return 1;
  }
  for (;;) {
    ssize_t n = read(in, buffer, sizeof buffer);
    if (n < 0) {
      fprintf(stderr, "%s: %s\n", shown(from), strerror(errno));
      return 1;
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(out, buffer + done, n - done);
      if (w < 0) {
        fprintf(stderr, "%s: %s\n", shown(to), strerror(errno));
        return 1;
      }
      done += w;
    }
  }
  close(in);
  if (fsync(out) != 0 || close(out) != 0) {
    fprintf(stderr, "%s: %s\n", shown(to), strerror(errno));
    return 1;
  }
  free(into);
  return 0;
}

static int rm_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) {
    fprintf(stderr, "%s: %s\n", shown(path), strerror(errno));
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) {
    if (unlink(path) == 0) return 0;
    fprintf(stderr, "%s: %s\n", shown(path), strerror(errno));
    return 1;
  }
  size_t n;
  char **names = list_names(path, &n);
  if (!names) {
    fprintf(stderr, "%s: %s\n", shown(path), strerror(errno));
    return 1;
  }
  int status = 0;
  for (size_t i = 0; i < n && status == 0; i++) {
    char *full = join(path, names[i]);
    status = rm_tree(full);
    free(full);
  }
  free_names(names, n);
  if (status == 0 && rmdir(path) != 0) {
    fprintf(stderr, "%s: %s\n", shown(path), strerror(errno));
    status = 1;
  }
  return status;
}

static int rm(const char *path, int recursive) {
  struct stat st;
  if (lstat(path, &st) != 0) {
    fprintf(stderr, "%s: %s\n", shown(path), strerror(errno));
    return 1;
  }
  if (recursive) return rm_tree(path);
  if ((S_ISDIR(st.st_mode) ? rmdir(path) : unlink(path)) == 0) return 0;
  fprintf(stderr, "%s: %s%s\n", shown(path), strerror(errno),
          S_ISDIR(st.st_mode) && errno == ENOTEMPTY ? " (remove it with -r)" : "");
  return 1;
}

/* Inodes of files with more than one link: the names found must account for every link. */
struct linked {
  unsigned long long ino;
  unsigned long long nlink;
  unsigned long long seen;
  char *path;
};
static struct linked *linked;
static size_t linked_count, linked_cap;

static void saw_link(const char *path, const struct stat *st) {
  for (size_t i = 0; i < linked_count; i++) {
    if (linked[i].ino == (unsigned long long)st->st_ino) {
      linked[i].seen++;
      return;
    }
  }
  if (linked_count == linked_cap) {
    linked_cap = linked_cap ? linked_cap * 2 : 16;
    linked = realloc(linked, linked_cap * sizeof *linked);
    if (!linked) {
      fputs("out of memory\n", stderr);
      exit(1);
    }
  }
  linked[linked_count++] =
      (struct linked){(unsigned long long)st->st_ino, (unsigned long long)st->st_nlink, 1, strdup(path)};
}

static unsigned long long files, dirs, links, bytes;

/* Reads every byte: the library OS authenticates each block on the way. */
static void check_file(const char *path, const struct stat *st) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    problem(path, strerror(errno));
    return;
  }
  long long total = 0;
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) total += n;
  if (n < 0) problem(path, strerror(errno));
  else if (total != (long long)st->st_size) problem(path, "size differs from the bytes read");
  close(fd);
  bytes += (unsigned long long)total;
}

static void check_dir(const char *path, const struct stat *self) {
  dirs++;
  size_t n;
  char **names = list_names(path, &n);
  if (!names) {
    problem(path, strerror(errno));
    return;
  }
  unsigned long long subdirs = 0;
  for (size_t i = 0; i < n; i++) {
    char *full = join(path, names[i]);
    struct stat st;
    if (lstat(full, &st) != 0) problem(full, strerror(errno));
    else if (S_ISDIR(st.st_mode)) {
      subdirs++;
      check_dir(full, &st);
    } else {
      if (S_ISREG(st.st_mode)) {
        files++;
        check_file(full, &st);
      } else if (S_ISLNK(st.st_mode)) {
        links++;
      }
      if (st.st_nlink > 1) saw_link(full, &st);
    }
    free(full);
  }
  free_names(names, n);
  /* ext4: 2 + subdirectories, or 1 once a directory has too many to count (dir_nlink). */
  if (self->st_nlink != 1 && self->st_nlink != 2 + subdirs) {
    char what[96];
    snprintf(what, sizeof what, "directory link count %llu, but %llu subdirectories",
             (unsigned long long)self->st_nlink, subdirs);
    problem(path, what);
  }
}

static int fsck(const char *root) {
  struct stat st;
  if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
    problem(root, "the root directory cannot be read");
    return 1;
  }
  check_dir(root, &st);
  for (size_t i = 0; i < linked_count; i++) {
    if (linked[i].seen != linked[i].nlink) {
      char what[96];
      snprintf(what, sizeof what, "link count %llu, but %llu names found", linked[i].nlink,
               linked[i].seen);
      problem(linked[i].path, what);
    }
  }
  printf("%llu directories, %llu files (%llu bytes read and authenticated), %llu symbolic links: %s\n",
         dirs, files, bytes, links, failures ? "PROBLEMS FOUND" : "clean");
  return failures ? 1 : 0;
}

static int usage(void) {
  fputs("usage: volume-tool ls PATH | cp SRC DST | rm [-r] PATH | fsck ROOT\n", stderr);
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 3) return usage();
  const char *command = argv[1];
  if (!strcmp(command, "ls") && argc == 3) return ls(argv[2]);
  if (!strcmp(command, "cp") && argc == 4) return cp(argv[2], argv[3]);
  if (!strcmp(command, "rm") && argc == 3) return rm(argv[2], 0);
  if (!strcmp(command, "rm") && argc == 4 && !strcmp(argv[2], "-r")) return rm(argv[3], 1);
  if (!strcmp(command, "fsck") && argc == 3) return fsck(argv[2]);
  return usage();
}
