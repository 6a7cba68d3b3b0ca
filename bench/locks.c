/* The physical limit for bench/locks.js: one side of the contended lock
 * hand-off chain, with blocking flock(2) or F_OFD_SETLKW. Built by the bench
 * with the machine's cc.
 *
 * Usage: locks <flock|ofd> <a|b> <n> <dir>
 * Locks <dir>/l0, l1, l2 as bench/lock-side.js describes (side a starts
 * holding l0, side b l1 and l2), prints "r" when its first locks are held,
 * then for each line on stdin runs its n steps (n a multiple of 3) and prints
 * "<start> <end>" in CLOCK_MONOTONIC nanoseconds (the clock of Node's
 * process.hrtime); exits at the end of stdin. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static int ofd;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void lk(int fd, int lock) {
  if (ofd) {
    struct flock fl = {0};
    fl.l_type = lock ? F_WRLCK : F_UNLCK;
    if (fcntl(fd, lock ? F_OFD_SETLKW : F_OFD_SETLK, &fl)) exit(1);
  } else if (flock(fd, lock ? LOCK_EX : LOCK_UN)) {
    exit(1);
  }
}

int main(int argc, char **argv) {
  if (argc < 5) return 2;
  ofd = !strcmp(argv[1], "ofd");
  int a = !strcmp(argv[2], "a");
  long n = atol(argv[3]);
  int fd[3];
  char p[4096];
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/l%d", argv[4], i);
    fd[i] = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd[i] < 0) return 1;
  }
  if (a) {
    lk(fd[0], 1);
  } else {
    lk(fd[1], 1);
    lk(fd[2], 1);
  }
  printf("r\n");
  fflush(stdout);
  if (n % 3) return 2;
  char line[16];
  while (fgets(line, sizeof line, stdin)) {
    long long t0 = now_ns();
    for (long i = 0; i < n; i++) {
      if (a) {
        lk(fd[(i + 1) % 3], 1);
        lk(fd[i % 3], 0);
      } else {
        lk(fd[(i + 1) % 3], 0);
        lk(fd[i % 3], 1);
      }
    }
    long long t1 = now_ns();
    printf("%lld %lld\n", t0, t1);
    fflush(stdout);
  }
  return 0;
}
