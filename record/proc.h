/* SPDX-License-Identifier: MIT */
/*
 * Reading /proc/PID files whole: what the collector (is a run's process
 * alive?) and `dise attach` (a process's state, times and start) ask of
 * /proc. Plain libc, not async-signal-safe, never used by the shim.
 */
#ifndef DISE_PROC_H
#define DISE_PROC_H

#include <sys/types.h>

/* Reads a whole small file (a /proc entry) into buf, NUL-terminated. Returns its length, or -errno. */
ssize_t dise_read_small(const char *path, char *buf, size_t size);

#define DISE_STAT_FIELDS 52

/* /proc/pid/stat in one read: the state letter (field 3) and the numbers of fields 4 .. 52 (proc(5)'s numbering). */
struct dise_proc_stat {
	char state;
	long long f[DISE_STAT_FIELDS + 1]; /* f[4] ppid, f[14] utime, f[15] stime, f[22] starttime (clock ticks) */
};

/* Returns 0, or -ENOENT / -ESRCH (no such process), -EPROTO (unreadable line), another -errno. */
int dise_proc_stat(pid_t pid, struct dise_proc_stat *ret);

/* A number of /proc/pid/status (Tgid, Uid, TracerPid, VmHWM) in base; -1 when absent or unreadable. */
long long dise_proc_status_num(pid_t pid, const char *name, int base);

/* A signal mask of /proc/pid/status (SigCgt, SigIgn); all bits set when absent or unreadable. */
unsigned long long dise_proc_status_mask(pid_t pid, const char *name);

#endif
