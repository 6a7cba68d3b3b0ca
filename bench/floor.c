/* The Node-API floor for bench/ops.js: the same syscalls as linux-fd's sync
 * rows, each behind the least a Node-API function can do. No argument
 * checks, no error objects (a failed syscall returns -errno, as linux-fd's
 * binding does), no receiver, no handles. Each function reads its arguments
 * with one napi_get_cb_info into a stack array and returns the same kind of
 * value linux-fd returns (a bigint for an eventfd read, [bigint, bigint]
 * for the timerfd times; fcntl with a buffer copies the struct back into a
 * Buffer the JS side made, as linux-fd does, or makes a new one), so a row's
 * ratio to this floor is what linux-fd's layers cost on top of Node-API.
 *
 * Built by bench/floor.js with `cc -O2 -shared -fPIC` against the headers of
 * the Node that runs the bench (<prefix>/include/node). Never shipped. */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define ARGS(n)                                                \
  napi_value argv[n];                                          \
  size_t argc = n;                                             \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL)

static int32_t i32(napi_env env, napi_value v) {
  int32_t x = 0;
  napi_get_value_int32(env, v, &x);
  return x;
}

static napi_value num(napi_env env, int32_t x) {
  napi_value r;
  napi_create_int32(env, x, &r);
  return r;
}

static napi_value neg_errno(napi_env env) { return num(env, -errno); }

static napi_value big(napi_env env, uint64_t x) {
  napi_value r;
  napi_create_bigint_uint64(env, x, &r);
  return r;
}

static uint64_t ns_of(const struct timespec *ts) { return (uint64_t)ts->tv_sec * 1000000000u + ts->tv_nsec; }

static struct timespec ts_of(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  return ts;
}

static napi_value pair(napi_env env, const struct itimerspec *its) {
  napi_value a;
  napi_create_array_with_length(env, 2, &a);
  napi_set_element(env, a, 0, big(env, ns_of(&its->it_value)));
  napi_set_element(env, a, 1, big(env, ns_of(&its->it_interval)));
  return a;
}

/* nop(): the price of calling a Node-API function at all. */
static napi_value nop(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  return NULL;
}

/* eventfd(initval, flags) -> fd | -errno */
static napi_value f_eventfd(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd = eventfd((unsigned)i32(env, argv[0]), i32(env, argv[1]));
  return fd < 0 ? neg_errno(env) : num(env, fd);
}

/* close(fd) -> 0 | -errno */
static napi_value f_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  return close(i32(env, argv[0])) ? neg_errno(env) : num(env, 0);
}

/* eventfdWrite(fd, value: number) -> 0 | -errno */
static napi_value f_eventfd_write(napi_env env, napi_callback_info info) {
  ARGS(2);
  double d = 0;
  napi_get_value_double(env, argv[1], &d);
  uint64_t v = (uint64_t)d;
  return write(i32(env, argv[0]), &v, 8) == 8 ? num(env, 0) : neg_errno(env);
}

/* eventfdRead(fd) -> bigint | -errno */
static napi_value f_eventfd_read(napi_env env, napi_callback_info info) {
  ARGS(1);
  uint64_t v;
  return read(i32(env, argv[0]), &v, 8) == 8 ? big(env, v) : neg_errno(env);
}

/* semRead(fd) -> 1 | -errno: a read of an EFD_SEMAPHORE eventfd always gives 1. */
static napi_value f_sem_read(napi_env env, napi_callback_info info) {
  ARGS(1);
  uint64_t v;
  return read(i32(env, argv[0]), &v, 8) == 8 ? num(env, (int32_t)v) : neg_errno(env);
}

/* memfdCreate(name, flags) -> fd | -errno */
static napi_value f_memfd_create(napi_env env, napi_callback_info info) {
  ARGS(2);
  char name[256];
  size_t len;
  napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len);
  int fd = memfd_create(name, (unsigned)i32(env, argv[1]));
  return fd < 0 ? neg_errno(env) : num(env, fd);
}

/* The bytes of a Uint8Array (a Buffer is one), or NULL with *len 0 for
 * any other value (the bench passes Buffers only). */
static uint8_t *bytes_of(napi_env env, napi_value v, size_t *len) {
  void *data = NULL;
  napi_value ab;
  size_t off;
  napi_typedarray_type type;
  *len = 0;
  if (napi_get_typedarray_info(env, v, &type, len, &data, &ab, &off) != napi_ok || type != napi_uint8_array) {
    *len = 0;
    return NULL;
  }
  return data;
}

/* pwrite(fd, bytes, position) -> bytes written | -errno */
static napi_value f_pwrite(napi_env env, napi_callback_info info) {
  ARGS(3);
  size_t len;
  uint8_t *p = bytes_of(env, argv[1], &len);
  ssize_t r = pwrite(i32(env, argv[0]), p, len, i32(env, argv[2]));
  return r < 0 ? neg_errno(env) : num(env, (int32_t)r);
}

/* pread(fd, bytes, position) -> bytes read | -errno */
static napi_value f_pread(napi_env env, napi_callback_info info) {
  ARGS(3);
  size_t len;
  uint8_t *p = bytes_of(env, argv[1], &len);
  ssize_t r = pread(i32(env, argv[0]), p, len, i32(env, argv[2]));
  return r < 0 ? neg_errno(env) : num(env, (int32_t)r);
}

/* flock(fd, operation) -> 0 | -errno */
static napi_value f_flock(napi_env env, napi_callback_info info) {
  ARGS(2);
  return flock(i32(env, argv[0]), i32(env, argv[1])) ? neg_errno(env) : num(env, 0);
}

/* fcntlBuf(fd, cmd, buf) -> a new Buffer with the struct after the call | -errno,
 * as Python's fcntl.fcntl(fd, cmd, bytes). */
static napi_value f_fcntl_buf(napi_env env, napi_callback_info info) {
  ARGS(3);
  char tmp[1024];
  void *data;
  size_t len;
  napi_get_buffer_info(env, argv[2], &data, &len);
  if (len > sizeof tmp) len = sizeof tmp;
  memcpy(tmp, data, len);
  if (fcntl(i32(env, argv[0]), i32(env, argv[1]), tmp) < 0) return neg_errno(env);
  napi_value r;
  napi_create_buffer_copy(env, len, tmp, NULL, &r);
  return r;
}

/* fcntlInPlace(fd, cmd, buf) -> 0 | -errno: the same, with the struct copied
 * back into `buf` (the caller makes the result Buffer in JS, from Node's pool). */
static napi_value f_fcntl_in_place(napi_env env, napi_callback_info info) {
  ARGS(3);
  char tmp[1024];
  void *data;
  size_t len;
  napi_get_buffer_info(env, argv[2], &data, &len);
  if (len > sizeof tmp) len = sizeof tmp;
  memcpy(tmp, data, len);
  if (fcntl(i32(env, argv[0]), i32(env, argv[1]), tmp) < 0) return neg_errno(env);
  memcpy(data, tmp, len);
  return num(env, 0);
}

/* timerfdCreate(clockid, flags) -> fd | -errno */
static napi_value f_timerfd_create(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd = timerfd_create(i32(env, argv[0]), i32(env, argv[1]));
  return fd < 0 ? neg_errno(env) : num(env, fd);
}

static int settime(napi_env env, napi_value *argv, struct itimerspec *old) {
  uint64_t initial = 0, interval = 0;
  bool lossless;
  napi_get_value_bigint_uint64(env, argv[2], &initial, &lossless);
  napi_get_value_bigint_uint64(env, argv[3], &interval, &lossless);
  struct itimerspec its = {ts_of(interval), ts_of(initial)};
  return timerfd_settime(i32(env, argv[0]), i32(env, argv[1]), &its, old);
}

/* timerfdSettimeNs(fd, flags, initial: bigint, interval: bigint) -> [old initial, old interval] | -errno */
static napi_value f_timerfd_settime_ns(napi_env env, napi_callback_info info) {
  ARGS(4);
  struct itimerspec old;
  return settime(env, argv, &old) ? neg_errno(env) : pair(env, &old);
}

/* timerfdSet(fd, flags, initial: bigint, interval: bigint) -> 0 | -errno (Timer.setNs returns nothing) */
static napi_value f_timerfd_set(napi_env env, napi_callback_info info) {
  ARGS(4);
  return settime(env, argv, NULL) ? neg_errno(env) : num(env, 0);
}

/* timerfdGettimeNs(fd) -> [remaining, interval] | -errno */
static napi_value f_timerfd_gettime_ns(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct itimerspec cur;
  return timerfd_gettime(i32(env, argv[0]), &cur) ? neg_errno(env) : pair(env, &cur);
}

/* lockTry(fd, ofd: 1 | 0) -> a dup of fd holding an exclusive lock | -errno:
 * what tryLockFile(fd) does (dup, then OFD F_WRLCK or flock LOCK_EX|LOCK_NB). */
static napi_value f_lock_try(napi_env env, napi_callback_info info) {
  ARGS(2);
  int d = fcntl(i32(env, argv[0]), F_DUPFD_CLOEXEC, 0);
  if (d < 0) return neg_errno(env);
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  if (i32(env, argv[1]) ? fcntl(d, F_OFD_SETLK, &fl) : flock(d, LOCK_EX | LOCK_NB)) {
    int e = errno;
    close(d);
    return num(env, -e);
  }
  return num(env, d);
}

/* lockRelease(dupfd, ofd: 1 | 0) -> 0 | -errno: unlock, close (FileLock.release()). */
static napi_value f_lock_release(napi_env env, napi_callback_info info) {
  ARGS(2);
  int d = i32(env, argv[0]);
  struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
  int r = i32(env, argv[1]) ? fcntl(d, F_OFD_SETLK, &fl) : flock(d, LOCK_UN);
  int e = errno;
  close(d);
  return r ? num(env, -e) : num(env, 0);
}

/* The same, for rows whose API returns an object that owns its fd
 * (`new EventCounter()`, `tryLockFile(fd)`): the least Node-API needs for
 * that is an External whose finalizer closes the fd if JS never does. */
static void close_finalizer(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  int *fd = data;
  if (*fd >= 0) close(*fd);
  free(fd);
}

static napi_value owning(napi_env env, int fd) {
  int *box = malloc(sizeof *box);
  *box = fd;
  napi_value r;
  napi_create_external(env, box, close_finalizer, NULL, &r);
  return r;
}

/* eventfdOpen(initval, flags) -> External owning a new eventfd | -errno */
static napi_value f_eventfd_open(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd = eventfd((unsigned)i32(env, argv[0]), i32(env, argv[1]));
  return fd < 0 ? neg_errno(env) : owning(env, fd);
}

/* handleFd(handle) -> the fd it owns, or -1 once closed */
static napi_value f_handle_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  int *fd;
  napi_get_value_external(env, argv[0], (void **)&fd);
  return num(env, *fd);
}

/* handleClose(handle) -> 0 | -errno: closes the fd now; the finalizer then has nothing to do. */
static napi_value f_handle_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  int *fd;
  napi_get_value_external(env, argv[0], (void **)&fd);
  int r = *fd >= 0 ? close(*fd) : 0;
  *fd = -1;
  return r ? neg_errno(env) : num(env, 0);
}

/* lockTryOwned(fd, ofd: 1 | 0) -> External owning the locked dup | -errno */
static napi_value f_lock_try_owned(napi_env env, napi_callback_info info) {
  napi_value r = f_lock_try(env, info);
  int32_t d = i32(env, r);
  return d < 0 ? r : owning(env, d);
}

/* lockReleaseOwned(handle, ofd: 1 | 0) -> 0 | -errno: unlock and close the handle's fd. */
static napi_value f_lock_release_owned(napi_env env, napi_callback_info info) {
  ARGS(2);
  int *fd;
  napi_get_value_external(env, argv[0], (void **)&fd);
  struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
  int r = i32(env, argv[1]) ? fcntl(*fd, F_OFD_SETLK, &fl) : flock(*fd, LOCK_UN);
  int e = errno;
  close(*fd);
  *fd = -1;
  return r ? num(env, -e) : num(env, 0);
}

/* The same three owning floors, making every syscall linux-fd makes: its
 * handles check the fd's identity (dev, inode, file type) before they close
 * or unlock it, so that a number closed and reused behind their back is
 * forgotten instead of closed (docs/design.md). That costs one fstat before
 * each close, and one when a handle for a file with its own inode is made
 * (eventfds share one inode, read once per process, so they need none).
 * strace of linux-fd, per iteration: eventfd2, newfstatat, close for
 * create+close; dup, newfstatat, lock, newfstatat, unlock, close for
 * tryLockFile(fd)+release. These floors make the same calls, the fstat
 * results compared as linux-fd compares them. */
struct ident {
  int fd;
  dev_t dev;
  ino_t ino;
  mode_t type;
};

/* Whether id's fd still names the file it did (the eventfd case compares
 * against the shared anonymous inode, read by the first call). */
static int ident_same(struct ident *id) {
  struct stat st;
  if (fstat(id->fd, &st) != 0) return 0;
  if (id->type == 0 && id->ino == 0) {
    static dev_t anon_dev;
    static ino_t anon_ino;
    static int known;
    if (!known) anon_dev = st.st_dev, anon_ino = st.st_ino, known = 1;
    return st.st_dev == anon_dev && st.st_ino == anon_ino;
  }
  return st.st_dev == id->dev && st.st_ino == id->ino && (st.st_mode & S_IFMT) == id->type;
}

static void ident_finalizer(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct ident *id = data;
  if (id->fd >= 0 && ident_same(id)) close(id->fd);
  free(id);
}

static napi_value owning_ident(napi_env env, int fd, const struct stat *st) {
  struct ident *id = malloc(sizeof *id);
  id->fd = fd;
  id->dev = st ? st->st_dev : 0;
  id->ino = st ? st->st_ino : 0;
  id->type = st ? (st->st_mode & S_IFMT) : 0;
  napi_value r;
  napi_create_external(env, id, ident_finalizer, NULL, &r);
  return r;
}

/* eventfdOpenChecked(initval, flags) -> External owning a new eventfd | -errno */
static napi_value f_eventfd_open_checked(napi_env env, napi_callback_info info) {
  ARGS(2);
  int fd = eventfd((unsigned)i32(env, argv[0]), i32(env, argv[1]));
  return fd < 0 ? neg_errno(env) : owning_ident(env, fd, NULL);
}

/* handleFdChecked(handle) -> the fd it owns, or -1 once closed */
static napi_value f_handle_fd_checked(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct ident *id;
  napi_get_value_external(env, argv[0], (void **)&id);
  return num(env, id->fd);
}

/* handleCloseChecked(handle) -> 0 | -EBADF: fstat, then close if it is the same file. */
static napi_value f_handle_close_checked(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct ident *id;
  napi_get_value_external(env, argv[0], (void **)&id);
  if (id->fd < 0) return num(env, 0);
  int r = ident_same(id) ? close(id->fd) : (errno = EBADF, -1);
  id->fd = -1;
  return r ? neg_errno(env) : num(env, 0);
}

/* memfdOpenChecked(name, flags) -> External owning a new memfd | -errno:
 * memfd_create, fstat (its identity), as MemFile.create makes. */
static napi_value f_memfd_open_checked(napi_env env, napi_callback_info info) {
  ARGS(2);
  char name[256];
  size_t len;
  napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len);
  int fd = memfd_create(name, (unsigned)i32(env, argv[1]));
  struct stat st;
  if (fd < 0) return neg_errno(env);
  if (fstat(fd, &st)) {
    int e = errno;
    close(fd);
    return num(env, -e);
  }
  return owning_ident(env, fd, &st);
}

/* pwriteChecked(handle, bytes, position) / preadChecked(...) -> bytes | -errno:
 * fstat (is the number still the handle's file?), then the call, as
 * MemFile.write / readInto check before each call. */
static napi_value f_pwrite_checked(napi_env env, napi_callback_info info) {
  ARGS(3);
  struct ident *id;
  napi_get_value_external(env, argv[0], (void **)&id);
  if (id->fd < 0 || !ident_same(id)) return num(env, -EBADF);
  size_t len;
  uint8_t *p = bytes_of(env, argv[1], &len);
  ssize_t r = pwrite(id->fd, p, len, i32(env, argv[2]));
  return r < 0 ? neg_errno(env) : num(env, (int32_t)r);
}

static napi_value f_pread_checked(napi_env env, napi_callback_info info) {
  ARGS(3);
  struct ident *id;
  napi_get_value_external(env, argv[0], (void **)&id);
  if (id->fd < 0 || !ident_same(id)) return num(env, -EBADF);
  size_t len;
  uint8_t *p = bytes_of(env, argv[1], &len);
  ssize_t r = pread(id->fd, p, len, i32(env, argv[2]));
  return r < 0 ? neg_errno(env) : num(env, (int32_t)r);
}

/* lockTryOwnedChecked(fd, ofd: 1 | 0) -> External owning the locked dup | -errno:
 * dup, fstat (the dup's identity), lock. */
static napi_value f_lock_try_owned_checked(napi_env env, napi_callback_info info) {
  ARGS(2);
  int d = fcntl(i32(env, argv[0]), F_DUPFD_CLOEXEC, 0);
  if (d < 0) return neg_errno(env);
  struct stat st;
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  if (fstat(d, &st) || (i32(env, argv[1]) ? fcntl(d, F_OFD_SETLK, &fl) : flock(d, LOCK_EX | LOCK_NB))) {
    int e = errno;
    close(d);
    return num(env, -e);
  }
  return owning_ident(env, d, &st);
}

/* lockReleaseOwnedChecked(handle, ofd: 1 | 0) -> 0 | -errno: fstat, unlock, close. */
static napi_value f_lock_release_owned_checked(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct ident *id;
  napi_get_value_external(env, argv[0], (void **)&id);
  if (id->fd < 0 || !ident_same(id)) return num(env, -EBADF);
  struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
  int r = i32(env, argv[1]) ? fcntl(id->fd, F_OFD_SETLK, &fl) : flock(id->fd, LOCK_UN);
  int e = errno;
  close(id->fd);
  id->fd = -1;
  return r ? num(env, -e) : num(env, 0);
}

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"nop", nop},
      {"eventfd", f_eventfd},
      {"close", f_close},
      {"eventfdWrite", f_eventfd_write},
      {"eventfdRead", f_eventfd_read},
      {"semRead", f_sem_read},
      {"memfdCreate", f_memfd_create},
      {"flock", f_flock},
      {"fcntlBuf", f_fcntl_buf},
      {"fcntlInPlace", f_fcntl_in_place},
      {"timerfdCreate", f_timerfd_create},
      {"timerfdSettimeNs", f_timerfd_settime_ns},
      {"timerfdSet", f_timerfd_set},
      {"timerfdGettimeNs", f_timerfd_gettime_ns},
      {"lockTry", f_lock_try},
      {"lockRelease", f_lock_release},
      {"eventfdOpen", f_eventfd_open},
      {"handleFd", f_handle_fd},
      {"handleClose", f_handle_close},
      {"lockTryOwned", f_lock_try_owned},
      {"eventfdOpenChecked", f_eventfd_open_checked},
      {"handleFdChecked", f_handle_fd_checked},
      {"handleCloseChecked", f_handle_close_checked},
      {"lockTryOwnedChecked", f_lock_try_owned_checked},
      {"lockReleaseOwnedChecked", f_lock_release_owned_checked},
      {"lockReleaseOwned", f_lock_release_owned},
      {"pwrite", f_pwrite},
      {"pread", f_pread},
      {"memfdOpenChecked", f_memfd_open_checked},
      {"pwriteChecked", f_pwrite_checked},
      {"preadChecked", f_pread_checked},
  };
  static const struct {
    const char *name;
    int32_t value;
  } consts[] = {
      {"EFD_CLOEXEC", EFD_CLOEXEC},   {"EFD_NONBLOCK", EFD_NONBLOCK}, {"EFD_SEMAPHORE", EFD_SEMAPHORE},
      {"MFD_CLOEXEC", MFD_CLOEXEC},   {"LOCK_EX", LOCK_EX},           {"LOCK_UN", LOCK_UN},
      {"F_OFD_SETLK", F_OFD_SETLK},   {"F_WRLCK", F_WRLCK},           {"F_UNLCK", F_UNLCK},
      {"CLOCK_MONOTONIC", CLOCK_MONOTONIC}, {"TFD_NONBLOCK", TFD_NONBLOCK}, {"TFD_CLOEXEC", TFD_CLOEXEC},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &f) != napi_ok) return NULL;
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
    napi_set_named_property(env, exports, consts[i].name, num(env, consts[i].value));
  }
  return exports;
}
