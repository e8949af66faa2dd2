/* SPDX-License-Identifier: MIT */
/*
 * The tracer's waiting (attach/tracer.c and attach/events.c both wait):
 * SIGCHLD, SIGINT, SIGTERM and SIGHUP blocked and read from a signalfd, and
 * an interrupt of one task with a bounded wait for its next status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "proc.h"

/* How long an interrupted task may take to stop before it is given up (a zombie leader never stops). */
#define INTERRUPT_WAIT_MS 1000

uint64_t dise__mono_ms(void)
{
	return dise_rec_clock_ns(CLOCK_MONOTONIC) / 1000000u;
}

/* ---- signals, read through the signalfd ---- */

int dise__signals_on(dise_tracer *t)
{
	sigset_t set;

	if (t->sigfd >= 0)
		return 0;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &set, &t->old_mask) != 0)
		return -EINVAL;
	t->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (t->sigfd < 0) {
		int err = -errno;

		pthread_sigmask(SIG_SETMASK, &t->old_mask, NULL);
		return err;
	}
	return 0;
}

void dise__signals_off(dise_tracer *t)
{
	if (t->sigfd < 0)
		return;
	close(t->sigfd);
	t->sigfd = -1;
	pthread_sigmask(SIG_SETMASK, &t->old_mask, NULL); /* a stop signal still pending acts now, as it would have */
}

/* Sleeps until a signal of the set arrives or timeout_ms pass; notes a request to stop. */
void dise__sleep_signals(dise_tracer *t, int timeout_ms)
{
	struct pollfd pf = {t->sigfd, POLLIN, 0};
	struct signalfd_siginfo si;

	if (poll(&pf, 1, timeout_ms) <= 0)
		return;
	while (read(t->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		if (si.ssi_signo != SIGCHLD)
			t->stop_asked = 1;
}

/*
 * Interrupts tid and waits for its next wait status (the interrupt stop, or
 * whatever stop or end came first). A task that cannot stop — a zombie
 * thread-group leader whose other threads still run, a task already gone —
 * is given up after INTERRUPT_WAIT_MS instead of hanging: the kernel
 * detaches what is left when the tracer exits. Returns 1 with *st, or 0.
 */
int dise__interrupt_and_wait(dise_tracer *t, pid_t tid, int *st)
{
	uint64_t deadline = dise__mono_ms() + INTERRUPT_WAIT_MS;

	if (dise__signals_on(t) < 0)
		return 0;
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 && errno == ESRCH)
		return 0;
	for (;;) {
		pid_t w = waitpid(tid, st, __WALL | WNOHANG);
		struct dise_proc_stat ps;
		uint64_t now;

		if (w == tid)
			return 1;
		if (w < 0 && errno != EINTR)
			return 0;
		if (dise_proc_stat(tid, &ps) < 0 || ps.state == 'Z' || ps.state == 'X')
			return 0; /* dead, and its status comes only when the whole group is */
		now = dise__mono_ms();
		if (now >= deadline)
			return 0;
		dise__sleep_signals(t, deadline - now < 100 ? (int)(deadline - now) : 100);
	}
}
