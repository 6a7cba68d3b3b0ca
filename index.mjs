// The package's ES module entry: the CommonJS entry's object as the default
// export (the typings, index.d.mts, declare one: code written against the
// CommonJS-format index.d.ts, which let `import lfd from 'linux-fd'` expect
// one, keeps working) and each of its keys as a named export, the same
// values. The names are listed, not `export *` from dist/index.js: tsc's
// CommonJS output carries an `__esModule` marker, which Node's static export
// finder took for a named export. api.spec checks that this list and the
// CommonJS entry's keys are the same.
import lfd from './index.js'

export default lfd
export const {
  waitBackend, AbortError, EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE,
  EventCounter, Permit, Semaphore, eventfd, eventfdRead, eventfdWrite,
  MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_HUGETLB, MFD_HUGE_SHIFT, MFD_HUGE_MASK,
  MFD_HUGE_64KB, MFD_HUGE_512KB, MFD_HUGE_1MB, MFD_HUGE_2MB, MFD_HUGE_8MB,
  MFD_HUGE_16MB, MFD_HUGE_32MB, MFD_HUGE_256MB, MFD_HUGE_512MB, MFD_HUGE_1GB,
  MFD_HUGE_2GB, MFD_HUGE_16GB, MFD_NOEXEC_SEAL, MFD_EXEC, F_ADD_SEALS,
  F_GET_SEALS, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE,
  F_SEAL_FUTURE_WRITE, F_SEAL_EXEC, MemFile, memfdCreate, TFD_CLOEXEC,
  TFD_NONBLOCK, TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET, CLOCK_REALTIME,
  CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME_ALARM,
  CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE, CLOCK_REALTIME_COARSE,
  CLOCK_TAI, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, Timer, timerfdCreate, timerfdSettime,
  timerfdSettimeNs, timerfdGettime, timerfdGettimeNs, timerfdRead,
  clockGettime, clockGettimeNs, clockGetres, clockGetresNs, LOCK_SH,
  LOCK_EX, LOCK_NB, LOCK_UN, LOCK_MAND, LOCK_READ, LOCK_WRITE, LOCK_RW,
  F_DUPFD, F_DUPFD_CLOEXEC, F_DUPFD_QUERY, F_GETFD, F_SETFD, FD_CLOEXEC,
  F_GETFL, F_SETFL, F_GETLK, F_SETLK, F_SETLKW, F_GETLK64, F_SETLK64,
  F_SETLKW64, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW, F_RDLCK, F_WRLCK,
  F_UNLCK, F_EXLCK, F_SHLCK, F_GETPIPE_SZ, F_SETPIPE_SZ, F_GETOWN, F_SETOWN,
  F_GETOWN_EX, F_SETOWN_EX, F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP, F_GETSIG,
  F_SETSIG, F_SETLEASE, F_GETLEASE, F_NOTIFY, DN_ACCESS, DN_MODIFY,
  DN_CREATE, DN_DELETE, DN_RENAME, DN_ATTRIB, DN_MULTISHOT, F_GET_RW_HINT,
  F_SET_RW_HINT, F_GET_FILE_RW_HINT, F_SET_FILE_RW_HINT,
  RWH_WRITE_LIFE_NOT_SET, RWH_WRITE_LIFE_NONE, RWH_WRITE_LIFE_SHORT,
  RWH_WRITE_LIFE_MEDIUM, RWH_WRITE_LIFE_LONG, RWH_WRITE_LIFE_EXTREME,
  FICLONE, FICLONERANGE, O_APPEND, O_ASYNC, FASYNC, O_DIRECT, O_CLOEXEC, O_NOATIME,
  O_NONBLOCK, O_DSYNC, O_SYNC, O_RDONLY, O_WRONLY, O_RDWR, O_ACCMODE, O_PATH,
  SEEK_SET, SEEK_CUR, SEEK_END,
  fcntl, ioctl, flock, lockf, pipe, pipe2, getPipeSize, setPipeSize, FileLock,
  tryLockFile, lockFile, testLock, FD_CHANNEL_MAX_FDS, FD_CHANNEL_MAX_MESSAGE,
  ReceivedFds, FdChannel, FdChannelServer
} = lfd
