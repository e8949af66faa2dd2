/* SPDX-License-Identifier: MIT */
/*
 * The wait family: how a watched parent learns how its child ended, and
 * dise with it. wait, waitpid, wait3, wait4 and waitid are interposed, each
 * calling the real one with the caller's arguments (a NULL status pointer
 * becomes a local one: the kernel reaps the same child either way) and
 * returning its result and errno untouched. When the call reaped a child
 * (not WNOHANG's 0, not a stop or a continue, not waitid's WNOWAIT), a REAP
 * record says which pid ended and how: the collector ends that child's run
 * with it when the child could not (the Go runtime's raw exit_group,
 * quick_exit, SIGKILL).
 *
 * Every reaped child is recorded, watched or not: the parent cannot know
 * whether its child's shim wrote an ending without a system call or a
 * shared table, and a REAP costs one clock read (the only system call it
 * adds, with a futex wake when the collector sleeps) and a ring write, only
 * in a process that reaps (the collector ignores a REAP that matches no run).
 * Nothing else is added: no system call when nothing was reaped.
 *
 * The last reaped child's fatal signal is kept for the crash handler: a
 * process that sends itself that signal next (GNU timeout re-raising its
 * child's SIGSEGV) passes the child's crash on; its CRASH says so
 * (DISE_CRASH_RERAISED).
 *
 * Async-signal-safe (wait from a SIGCHLD handler is common): wait, waitpid
 * and wait4 without rusage (glibc's waitpid is exactly that) go to glibc's
 * exported __wait and __waitpid, no lookup. wait3 and wait4 asking for the
 * rusage, and waitid, are resolved with dlsym on their first call (the
 * loader's lock: a first call of those from a signal handler that
 * interrupted dlopen would wait for it; resolving them earlier would cost
 * every process a lookup, and in a fork handler could deadlock with a
 * dlopen registering its own).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

extern pid_t __wait(int *status);
extern pid_t __waitpid(pid_t pid, int *status, int options);

static atomic_int last_reaped_sig DISE_HOT; /* the fatal signal of the last child reaped, 0 if it exited */

int dise__reaped_signal(void)
{
	return atomic_load_explicit(&last_reaped_sig, memory_order_relaxed);
}

static void reaped(pid_t pid, int status, const struct rusage *ru)
{
	struct dise_rec_reap w;
	struct dise_rec_who who;
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;

	/*
	 * Stored only when it changes: a shell reaps after each fork, and the
	 * page is shared with the child until one of them writes it, so a
	 * store of the same 0 was a copy-on-write fault in the shell at every
	 * spawn (bench/bench-syscalls.sh, page faults per spawn).
	 */
	if (atomic_load_explicit(&last_reaped_sig, memory_order_relaxed) != sig)
		atomic_store_explicit(&last_reaped_sig, sig, memory_order_relaxed);
	/*
	 * Not dise__active(): its getpid() would be a second system call per
	 * reap. A fork child's state is its own (the atfork handler); a child
	 * made by a raw clone that reaps names the wrong reaper, whose children
	 * are not the reaped one's siblings: the collector finds no run whose
	 * parent it is, and ignores the record.
	 */
	if (!dise__shim.ring.hdr || dise__shim.disabled)
		return;
	who = dise__who(dise__shim.pid); /* the reaper's run; the thread is not what matters here */
	dise_rec_reap_init(&w, &who, (uint32_t)pid, status);
	if (ru) {
		w.user_ns = (uint64_t)ru->ru_utime.tv_sec * 1000000000u + (uint64_t)ru->ru_utime.tv_usec * 1000u;
		w.sys_ns = (uint64_t)ru->ru_stime.tv_sec * 1000000000u + (uint64_t)ru->ru_stime.tv_usec * 1000u;
		w.maxrss_kb = (uint64_t)ru->ru_maxrss;
	}
	dise_ring_put_record(&dise__shim.ring, &w, sizeof(w)); /* not urgent after the child's own failing EXIT: ring.h */
}

/* After a wait-status call that returned r: records when it reaped an ended child. Keeps errno. */
static void after(pid_t r, const int *status, const struct rusage *ru)
{
	int saved;

	if (r <= 0 || !(WIFEXITED(*status) || WIFSIGNALED(*status)))
		return;
	saved = errno;
	reaped(r, *status, ru);
	errno = saved;
}

DISE_EXPORT pid_t wait(int *status)
{
	int local;
	int *st = status ? status : &local;
	pid_t r = __wait(st);

	after(r, st, NULL);
	return r;
}

DISE_EXPORT pid_t waitpid(pid_t pid, int *status, int options)
{
	int local;
	int *st = status ? status : &local;
	pid_t r = __waitpid(pid, st, options);

	after(r, st, NULL);
	return r;
}

DISE_EXPORT pid_t wait4(pid_t pid, int *status, int options, struct rusage *ru)
{
	int local;
	int *st = status ? status : &local;
	pid_t r = ru ? DISE_REAL(wait4)(pid, st, options, ru) : __waitpid(pid, st, options);

	after(r, st, ru);
	return r;
}

DISE_EXPORT pid_t wait3(int *status, int options, struct rusage *ru)
{
	return wait4(-1, status, options, ru);
}

DISE_EXPORT int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
{
	siginfo_t local;
	int r;

	if (!info) /* the kernel reaps the same child with or without a siginfo to fill */
		local.si_pid = 0;
	r = DISE_REAL(waitid)(idtype, id, info ? info : &local, options);
	if (!info)
		info = &local;
	/* reaped: an ended child (CLD_EXITED, CLD_KILLED, CLD_DUMPED), WNOWAIT not asked, a child found */
	if (r == 0 && !(options & WNOWAIT) && info->si_pid > 0) {
		int status = -1;

		if (info->si_code == CLD_EXITED)
			status = (info->si_status & 0xff) << 8;
		else if (info->si_code == CLD_KILLED || info->si_code == CLD_DUMPED)
			status = (info->si_status & 0x7f) | (info->si_code == CLD_DUMPED ? 0x80 : 0);
		if (status >= 0)
			after(info->si_pid, &status, NULL);
	}
	return r;
}
