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

static void child(void)
{
	struct dise_shim *S = &dise__shim;
	struct timespec ts;

	if (!S->ring.hdr || S->disabled)
		return;
	S->pid = (uint32_t)getpid();
	S->run_start_ns = dise__now_ns();
	clock_gettime(CLOCK_REALTIME, &ts);
	S->start_wall_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	atomic_store(&S->exited, 0);
	dise__signals_after_fork();
	dise__record_start(DISE_START_FORK);
}

void dise__fork_init(void)
{
	pthread_atfork(NULL, NULL, child);
}
