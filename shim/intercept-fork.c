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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "dise/rawsys.h"

static void child(void)
{
	struct dise_shim *S = &dise__shim;

	if (!S->ring.hdr || S->disabled)
		return;
	dise_rec_clock_reset();
	/* the parent is the process that forked: the one this state was of until now */
	S->ppid = S->pid;
	S->pid = (uint32_t)dise_sys0(SYS_getpid);
	S->run_start_ns = dise__now_ns();
	S->start_wall_ns = dise__clock_ns(CLOCK_REALTIME);
	atomic_store(&S->exited, 0);
	atomic_store(&S->threaded, 0); /* a fork child has one thread */
	if (S->arm_key) /* the arm of a canary rollout: for what this child executes or spawns */
		dise_arm_put(&S->ring, S->pid, S->arm_key, S->arm);
	dise__signals_after_fork();
	dise__record_start(DISE_START_FORK); /* leaves errno alone (rawsys.h): no errno page touched */
}

void dise__fork_init(void)
{
	pthread_atfork(NULL, NULL, child);
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
	if (dise__shim.ring.hdr && !dise__shim.disabled && !dise__real.execvpe) {
		int saved = errno;

		(void)DISE_REAL(execve);
		(void)DISE_REAL(execvpe);
		errno = saved;
	}
	return __fork();
}
