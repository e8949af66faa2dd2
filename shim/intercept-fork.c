/* SPDX-License-Identifier: MIT */
/*
 * fork: a child is a run of its own. glibc runs pthread_atfork child
 * handlers in the child of every fork() (also the ones inside daemon() and
 * friends) but not in vfork or posix_spawn children, which share the
 * parent's memory until they exec, and whose new image starts its own run.
 * The child handler runs in a process with one thread, so it may reuse the
 * START scratch buffer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <pty.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "dise/rawsys.h"

/*
 * The forking thread's clocks, read in fork() just before the real fork,
 * and the pid of the process that read them. A child of that fork starts
 * its run from them instead of reading both clocks itself: a fork child's
 * clock reads are system calls (dise_rec_clock_reset), a long-lived
 * parent's (a shell) go through the vDSO, so each spawn of a watched
 * shell makes two system calls less (bench/bench-syscalls.sh). Per thread:
 * the child is a copy of the forking thread. Written only by the parent
 * (a write in the child would copy the page): a child of a fork glibc made
 * itself (daemon()), which did not come through fork() below, finds the
 * stamp of another process (from is not its parent's pid) and reads the
 * clocks; a fork from a signal handler in between clears it (from = 0).
 */
static __thread struct {
	uint64_t mono, wall;
	uint32_t from;
} stamp;

/*
 * This process's pid in a fork child without getpid: glibc's fork has the
 * kernel write the child's tid (its pid) into the thread's descriptor
 * (CLONE_CHILD_SETTID on struct pthread's tid), which is glibc's own
 * layout: trusted only where init found our pid at that place
 * (dise__shim.tid_at_tp) and the value is not the parent's pid (not
 * rewritten: another layout), else the system call.
 */
static uint32_t child_pid(uint32_t parent)
{
#if DISE_TID_AT_TP
	if (dise__shim.tid_at_tp) {
		uint32_t v = *(volatile uint32_t *)((char *)__builtin_thread_pointer() + DISE_TID_AT_TP);

		if (v && v != parent)
			return v;
	}
#endif
	(void)parent;
	return (uint32_t)dise_sys0(SYS_getpid);
}

static void child(void)
{
	struct dise_shim *S = &dise__shim;

	if (!S->ring.hdr || S->disabled)
		return;
	dise_rec_clock_reset();
	if (stamp.from == S->pid && stamp.mono) {
		S->run_start_ns = stamp.mono;
		S->start_wall_ns = stamp.wall;
	} else {
		S->run_start_ns = dise__now_ns();
		S->start_wall_ns = dise__clock_ns(CLOCK_REALTIME);
	}
	/* the parent is the process that forked: the one this state was of until now */
	S->ppid = S->pid;
	S->pid = child_pid(S->ppid);
	atomic_store(&S->exited, 0);
	atomic_store(&S->threaded, 0); /* a fork child has one thread */
	if (S->arm_key) /* the arm of a canary rollout: for what this child executes or spawns */
		dise_arm_put(&S->ring, S->pid, S->arm_key, S->arm);
	dise__signals_after_fork();
	dise__record_start(DISE_START_FORK); /* leaves errno alone (rawsys.h): no errno page touched */
}

/*
 * The child handler is registered before a process's first fork, not at
 * init: registering costs ~30 us of a process's start (the binding of
 * glibc's __register_atfork and the pages it touches; docs/shim-cost.md),
 * and most processes never fork. Every fork that runs atfork handlers
 * comes through here first: fork() below, and the two forks glibc makes
 * itself, daemon() and forkpty(), interposed for this alone. (_Fork and
 * vfork run no atfork handlers, registered or not.) Once per process,
 * whichever thread forks first; a fork child inherits the registration.
 * Keeps errno.
 */
static atomic_int child_registered; /* 0 not yet, 1 being registered, 2 registered */

static void forks_ready(void)
{
	int expect = 0, saved;

	if (!dise__shim.ring.hdr || dise__shim.disabled ||
	    atomic_load_explicit(&child_registered, memory_order_acquire) == 2)
		return;
	/*
	 * Never waits: a fork from a signal handler that interrupted the
	 * registration would wait for itself. A fork while another thread
	 * (or the interrupted code) is registering it may run without the
	 * handler: that child's records are dropped (its state names its
	 * parent's pid: dise__active_tid), never written under the parent's.
	 */
	if (!atomic_compare_exchange_strong(&child_registered, &expect, 1))
		return;
	saved = errno;
	pthread_atfork(NULL, NULL, child);
	errno = saved;
	atomic_store_explicit(&child_registered, 2, memory_order_release);
}

DISE_EXPORT int daemon(int nochdir, int noclose)
{
	forks_ready();
	return DISE_REAL(daemon)(nochdir, noclose);
}

DISE_EXPORT pid_t forkpty(int *amaster, char *name, const struct termios *termp, const struct winsize *winp)
{
	forks_ready();
	return DISE_REAL(forkpty)(amaster, name, termp, winp);
}

extern pid_t __fork(void);

/*
 * fork() itself only readies the parent: what a child's exec needs from
 * the loader (the real execve and execvpe, dlsym(RTLD_NEXT)) is looked up
 * here, once per process, before the first fork. Looked up in each child,
 * it walked the loader's tables in pages a fork does not copy, again at
 * every spawn (bench/bench-syscalls.sh: a watched bash's page faults per
 * spawn). glibc's fork is not async-signal-safe (it runs the atfork
 * handlers), so a lookup here adds no restriction fork did not have.
 * Forks inside glibc (daemon) do not come here: their children look up
 * as before.
 */
DISE_EXPORT pid_t fork(void)
{
	pid_t r;

	if (!dise__shim.ring.hdr || dise__shim.disabled)
		return __fork();
	forks_ready();
	if (!dise__real.execvpe) {
		int saved = errno;

		(void)DISE_REAL(execve);
		(void)DISE_REAL(execvpe);
		errno = saved;
	}
	stamp.mono = dise__now_ns(); /* the child's run starts here (see stamp) */
	stamp.wall = dise__clock_ns(CLOCK_REALTIME);
	stamp.from = dise__shim.pid;
	r = __fork();
	if (r != 0)
		stamp.from = 0; /* the parent (or a failed fork): used */
	return r;
}
