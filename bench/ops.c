/* The physical limit for bench/ops.js: the same operations as raw syscalls.
 * Built by the bench with the machine's cc. Usage: ops <op> <iterations>
 * Prints nanoseconds per operation. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *op = argv[1];
  long n = atol(argv[2]);
  const char *path = argc > 3 ? argv[3] : "/tmp/linux-fd-bench.lock";
  double t0, t1;
  if (!strcmp(op, "eventfd_rw")) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    uint64_t v = 1;
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
      if (write(fd, &v, 8) != 8 || read(fd, &v, 8) != 8) return 1;
    }
    t1 = now_ns();
  } else if (!strcmp(op, "sem_rw")) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE);
    uint64_t v = 1;
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
      v = 1;
      if (write(fd, &v, 8) != 8 || read(fd, &v, 8) != 8) return 1;
    }
    t1 = now_ns();
  } else if (!strcmp(op, "eventfd_create")) {
    t0 = now_ns();
    for (long i = 0; i < n; i++) close(eventfd(0, EFD_CLOEXEC));
    t1 = now_ns();
  } else if (!strcmp(op, "memfd_create")) {
    t0 = now_ns();
    for (long i = 0; i < n; i++) close(memfd_create("bench", MFD_CLOEXEC));
    t1 = now_ns();
  } else if (!strcmp(op, "flock")) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
      if (flock(fd, LOCK_EX) || flock(fd, LOCK_UN)) return 1;
    }
    t1 = now_ns();
  } else if (!strcmp(op, "ofd")) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    struct flock fl = {0};
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
      fl.l_type = F_WRLCK;
      if (fcntl(fd, F_OFD_SETLK, &fl)) return 1;
      fl.l_type = F_UNLCK;
      if (fcntl(fd, F_OFD_SETLK, &fl)) return 1;
    }
    t1 = now_ns();
  } else if (!strcmp(op, "timerfd")) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    struct itimerspec set = {{0, 0}, {1000, 0}}, cur;
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
      if (timerfd_settime(fd, 0, &set, NULL) || timerfd_gettime(fd, &cur)) return 1;
    }
    t1 = now_ns();
  } else if (!strcmp(op, "ofd_dup") || !strcmp(op, "flock_dup")) {
    /* what tryLockFile(fd) + release() does: dup, lock, unlock, close */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    int ofd = !strcmp(op, "ofd_dup");
    struct flock fl = {0};
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
      int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (d < 0) return 1;
      if (ofd) {
        fl.l_type = F_WRLCK;
        if (fcntl(d, F_OFD_SETLK, &fl)) return 1;
        fl.l_type = F_UNLCK;
        if (fcntl(d, F_OFD_SETLK, &fl)) return 1;
      } else if (flock(d, LOCK_EX | LOCK_NB) || flock(d, LOCK_UN)) {
        return 1;
      }
      close(d);
    }
    t1 = now_ns();
  } else if (!strcmp(op, "memfile_rw")) {
    /* pwrite + pread of 64 bytes at 0 on a memfd (no identity check: C has no reused-number hazard to guard) */
    int fd = memfd_create("bench", MFD_CLOEXEC);
    uint8_t src[64], dst[64];
    memset(src, 7, sizeof src);
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
      if (pwrite(fd, src, 64, 0) != 64 || pread(fd, dst, 64, 0) != 64) return 1;
    }
    t1 = now_ns();
    close(fd);
  } else if (!strcmp(op, "map64")) {
    /* n = rounds of: memfd 64 MiB, truncate, mmap, fill, read back, unmap */
    size_t len = 64u << 20;
    t0 = now_ns();
    for (long i = 0; i < n; i++) {
      int fd = memfd_create("bench", MFD_CLOEXEC);
      if (ftruncate(fd, len)) return 1;
      uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) return 1;
      memset(p, 7, len);
      uint64_t sum = 0;
      for (size_t j = 0; j < len; j += 4096) sum += p[j];
      if (sum != 7 * (len / 4096)) return 1;
      munmap(p, len);
      close(fd);
    }
    t1 = now_ns();
  } else {
    return 2;
  }
  printf("%.1f\n", (t1 - t0) / n);
  return 0;
}
