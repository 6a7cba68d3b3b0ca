"""CPython's os/fcntl for bench/ops.js. Usage: python3 ops.py <op> <n> [path]; prints ns/op."""
import fcntl, os, struct, sys, time

op, n = sys.argv[1], int(sys.argv[2])
path = sys.argv[3] if len(sys.argv) > 3 else "/tmp/linux-fd-bench.lock"
t0 = time.perf_counter_ns()
if op == "eventfd_rw":
    fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    t0 = time.perf_counter_ns()
    for _ in range(n):
        os.eventfd_write(fd, 1)
        os.eventfd_read(fd)
elif op == "sem_rw":
    fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK | os.EFD_SEMAPHORE)
    t0 = time.perf_counter_ns()
    for _ in range(n):
        os.eventfd_write(fd, 1)
        os.eventfd_read(fd)
elif op == "eventfd_create":
    for _ in range(n):
        os.close(os.eventfd(0, os.EFD_CLOEXEC))
elif op == "memfd_create":
    for _ in range(n):
        os.close(os.memfd_create("bench", os.MFD_CLOEXEC))
elif op == "flock":
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    t0 = time.perf_counter_ns()
    for _ in range(n):
        fcntl.flock(fd, fcntl.LOCK_EX)
        fcntl.flock(fd, fcntl.LOCK_UN)
elif op == "ofd":
    # struct flock on x86_64/aarch64: short l_type, l_whence; off_t l_start, l_len; pid_t l_pid
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    wr = struct.pack("hhxxxxqqixxxx", fcntl.F_WRLCK, 0, 0, 0, 0)
    un = struct.pack("hhxxxxqqixxxx", fcntl.F_UNLCK, 0, 0, 0, 0)
    t0 = time.perf_counter_ns()
    for _ in range(n):
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, wr)
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, un)
elif op == "timerfd":
    if not hasattr(os, "timerfd_create"):
        sys.exit(3)  # Python < 3.13
    fd = os.timerfd_create(time.CLOCK_MONOTONIC, os.TFD_CLOEXEC | os.TFD_NONBLOCK)
    t0 = time.perf_counter_ns()
    for _ in range(n):
        os.timerfd_settime_ns(fd, initial=10**12)
        os.timerfd_gettime_ns(fd)
elif op == "memfile_rw":
    # os.pwrite + os.pread of 64 bytes (pread returns new bytes, Python's only form)
    fd = os.memfd_create("bench", os.MFD_CLOEXEC)
    src = b"\x07" * 64
    t0 = time.perf_counter_ns()
    for _ in range(n):
        os.pwrite(fd, src, 0)
        os.pread(fd, 64, 0)
else:
    sys.exit(2)
print((time.perf_counter_ns() - t0) / n)
