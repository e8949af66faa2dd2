/* SPDX-License-Identifier: MIT */
/*
 * fork: a child is a run of its own. glibc runs pthread_atfork child
 * handlers in the child of every fork() (also the ones inside daemon() and
 * friends) but not in vfork or posix_spawn children, which share the
 * parent's memory until they exec, and whose new image starts its own run.
 * The child handler runs in a process with one thread, so it may reuse the
 * START scratch buffers.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static char exe_buf[DISE_PATH_MAX], cwd_buf[DISE_PATH_MAX]; /* the child has one thread */

static void child(void)
{
	struct dise_shim *S = &dise__shim;
	if (!S->ring.hdr || S->disabled)
		return;
	S->pid = (uint32_t)getpid();
	S->run_start_ns = dise__now_ns();
	S->start_wall_ns = dise__clock_ns(CLOCK_REALTIME);
	atomic_store(&S->exited, 0);
	atomic_store(&S->threaded, 0); /* a fork child has one thread */
	dise__signals_after_fork();
	dise__record_start(DISE_START_FORK, exe_buf, cwd_buf);
}

void dise__fork_init(void)
{
	pthread_atfork(NULL, NULL, child);
}
