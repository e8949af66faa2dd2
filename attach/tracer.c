/* SPDX-License-Identifier: MIT */
/*
 * The tracer: attach (seize every thread), wait, detach. What each wait
 * status means is attach/events.c's.
 *
 * Every thread is seized (PTRACE_SEIZE: the target is not stopped by the
 * attach) with clone, fork, vfork, exec and exit events. Invariant: every
 * stop a handler sees is resumed before it returns, with the signal it was
 * about to deliver (a signal-delivery-stop) or none (an event stop), or kept
 * as a group-stop with PTRACE_LISTEN — so a traced program runs as it would
 * untraced. The one exception is deliberate and short: while the stacks of
 * the other threads of a crashing process are taken, each stays stopped and
 * its wait status is queued (t->pend), then handled as usual.
 *
 * Waiting: from the seize on, SIGCHLD (a tracee stopped or ended), SIGINT,
 * SIGTERM and SIGHUP are blocked and read from a signalfd, so that a Ctrl-C
 * at any moment after the first PTRACE_SEIZE detaches instead of killing
 * dise attach (the kernel would detach, but no DETACHED record would say
 * so). A program the caller starts meanwhile, the collector, unblocks them
 * before its exec (cli/cmd-collector.c). The loop sleeps in poll() until
 * one of them or the detach deadline, with no signal handler and no alarm
 * racing waitpid(). Wait statuses are always drained with WNOHANG before
 * sleeping: SIGCHLDs coalesce, statuses do not.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "proc.h"

/* ---- attach, follow, detach ---- */

/* Stops every traced thread and detaches it; a signal it was about to get is handed back. */
static void detach_all(dise_tracer *t)
{
	while (t->nt) {
		pid_t tid = t->t[0].tid;
		int st, sig = 0, ev;

		for (;;) {
			if (!dise__interrupt_and_wait(t, tid, &st)) {
				dise__thr_del(t, tid);
				break;
			}
			if (WIFEXITED(st) || WIFSIGNALED(st)) {
				dise__tracer_on_end(t, tid, st); /* ended: not "detached" */
				break;
			}
			if (!WIFSTOPPED(st))
				continue;
			ev = st >> 16;
			if (ev == 0)
				sig = WSTOPSIG(st); /* a signal-delivery-stop: deliver it on the way out */
			else if (ev == PTRACE_EVENT_FORK || ev == PTRACE_EVENT_VFORK || ev == PTRACE_EVENT_CLONE) {
				unsigned long child = 0;

				/* a new task is traced too: detach it as well */
				if (ptrace(PTRACE_GETEVENTMSG, tid, NULL, &child) == 0 && child)
					dise__thr_add(t, (pid_t)child, (pid_t)child);
			}
			ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig);
			dise__thr_del(t, tid);
			break;
		}
	}
}

int dise_tracer_new(pid_t pid, dise_tracer_report_fn report, void *ctx, dise_tracer **ret)
{
	long long tick = sysconf(_SC_CLK_TCK), start_boot, now_boot;
	struct dise_proc_stat ps;
	dise_tracer *t;

	/* its start, moved from CLOCK_BOOTTIME ticks onto the clocks the records use */
	if (dise_proc_stat(pid, &ps) < 0 || tick <= 0)
		return -ESRCH;
	now_boot = (long long)dise_rec_clock_ns(CLOCK_BOOTTIME);
	start_boot = ps.f[22] * (1000000000LL / tick);
	if (start_boot > now_boot)
		start_boot = now_boot;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->pid = pid;
	t->start_ticks = ps.f[22];
	t->pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* -1 before Linux 5.3, and for a thread id */
	t->late_fork_events = getenv("DISE_TEST_ATTACH_LATE_FORK") != NULL;
	t->start_mono_ns = dise_rec_clock_ns(CLOCK_MONOTONIC) - (uint64_t)(now_boot - start_boot);
	t->start_wall_ns = dise_rec_clock_ns(CLOCK_REALTIME) - (uint64_t)(now_boot - start_boot);
	t->sigfd = -1;
	t->report = report;
	t->report_ctx = ctx;
	if (!dise__proc_add(t, pid, t->start_mono_ns)) {
		if (t->pidfd >= 0)
			close(t->pidfd);
		free(t);
		return -ENOMEM;
	}
	*ret = t;
	return 0;
}

dise_tracer *dise_tracer_free(dise_tracer *t)
{
	if (!t)
		return NULL;
	if (t->nt)
		detach_all(t);
	dise__signals_off(t);
	if (t->pidfd >= 0)
		close(t->pidfd);
	if (t->have_ring)
		dise_ring_unmap(&t->ring);
	free(t->t);
	free(t->p);
	free(t->pend);
	free(t);
	return NULL;
}

size_t dise_tracer_nthreads(const dise_tracer *t)
{
	return t->nt;
}

/*
 * Whether t->pid is still the process dise_tracer_new pinned: its pidfd has
 * not reported an end (a live process's pid cannot be reused), and its start
 * time is the one read then.
 */
static int same_process(dise_tracer *t)
{
	struct pollfd pf = {t->pidfd, POLLIN, 0};
	struct dise_proc_stat ps;

	if (t->pidfd >= 0 && poll(&pf, 1, 0) != 0)
		return 0;
	return dise_proc_stat(t->pid, &ps) == 0 && ps.f[22] == t->start_ticks;
}

int dise_tracer_seize(dise_tracer *t, int follow)
{
	const long options = follow ? PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
					  PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT
				    : 0;
	char path[64];
	int grew = 1, r = dise__signals_on(t);

	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)t->pid);
	/* re-read the task list until it stops growing: threads made meanwhile are seized too */
	while (grew) {
		DIR *d = opendir(path);
		struct dirent *e;

		grew = 0;
		if (!d)
			break;
		while ((e = readdir(d))) {
			pid_t tid = (pid_t)atoi(e->d_name);
			struct dise_proc_stat ps;
			struct thr *h;

			if (tid <= 0 || dise__thr_find(t, tid))
				continue;
			if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)options) < 0) {
				int err = errno;

				if (err == ESRCH && tid != t->pid)
					continue; /* the thread ended meanwhile */
				if (err == EPERM && tid == t->pid && dise_proc_stat(tid, &ps) == 0 && ps.state == 'Z') {
					t->zombie_leader = 1; /* the main thread ended; the others are the process */
					continue;
				}
				closedir(d);
				detach_all(t);
				return -err;
			}
			if (!(h = dise__thr_add(t, tid, t->pid))) {
				closedir(d);
				detach_all(t);
				return -ENOMEM;
			}
			h->announced = 1;
			grew = 1;
		}
		closedir(d);
	}
	/* seized by pid: what was seized must be the process pinned before the caller's checks */
	if (!same_process(t)) {
		detach_all(t);
		return -ESRCH;
	}
	return 0;
}

int dise_tracer_open_ring(dise_tracer *t, const char *ring_path)
{
	int r = dise_ring_map(ring_path, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &t->ring);
	struct proc *p;

	if (r < 0)
		return r;
	t->have_ring = 1;
	if ((r = dise__signals_on(t)) < 0) /* on since the seize; here for a caller that opens the ring first */
		return r;
	if ((p = dise__proc_find(t, t->pid)))
		dise__record_start(t, p, DISE_START_ATTACHED, t->start_wall_ns);
	return 0;
}

int dise_tracer_run(dise_tracer *t, unsigned detach_after_ms, struct dise_tracer_end *ret)
{
	uint64_t deadline = detach_after_ms ? dise__mono_ms() + detach_after_ms : 0;
	int r, timed_out = 0;

	if ((r = dise__signals_on(t)) < 0)
		return r;
	while (t->np && !t->stop_asked) {
		int st, timeout = -1;
		pid_t tid = waitpid(-1, &st, __WALL | WNOHANG);

		if (tid > 0) {
			dise__tracer_handle(t, tid, st);
			continue;
		}
		if (tid < 0 && errno != EINTR)
			break; /* ECHILD: nothing traced is left */
		if (deadline) {
			uint64_t now = dise__mono_ms();

			if (now >= deadline) {
				timed_out = 1;
				break;
			}
			timeout = deadline - now > 60000 ? 60000 : (int)(deadline - now);
		}
		if (tid == 0)
			dise__sleep_signals(t, timeout);
	}
	if (t->np && (t->stop_asked || timed_out)) {
		detach_all(t);
		/* what still runs goes on unwatched (what ended meanwhile was recorded and dropped) */
		for (size_t k = 0; k < t->np; k++)
			dise__record_exit(t, &t->p[k], 0, DISE_EXIT_DETACHED);
		t->end.detached = t->np > 0 && dise__proc_find(t, t->pid) != NULL;
		t->np = 0;
	}
	/*
	 * A process whose main thread had ended before the attach: its leader
	 * (a zombie) could not be traced, so its end came as no wait status;
	 * the last exit stop of its threads told it.
	 */
	for (size_t k = 0; k < t->np; k++)
		if (t->p[k].have_exit_msg) {
			dise__record_exit(t, &t->p[k], t->p[k].exit_msg, DISE_EXIT_TRACED);
			if (t->p[k].pid == t->pid) {
				t->end.ended = 1;
				t->end.status = t->p[k].exit_msg;
			}
		}
	*ret = t->end;
	return 0;
}

int dise_tracer_snapshot(dise_tracer *t)
{
	struct proc *p = dise__proc_find(t, t->pid);

	while (t->nt) {
		pid_t tid = t->t[0].tid;
		int st, sig = 0, len;

		if (!dise__interrupt_and_wait(t, tid, &st) || !WIFSTOPPED(st)) {
			dise__thr_del(t, tid);
			continue;
		}
		if ((st >> 16) == 0)
			sig = WSTOPSIG(st);
		/* stopped by us: reported, never written to the ring */
		if (p && t->report && (len = dise__capture(t, p, tid, SIGSTOP, NULL)) > 0)
			t->report(t->report_ctx, &(struct dise_tracer_report){.what = DISE_TRACER_THREAD,
									      .pid = t->pid,
									      .tid = tid,
									      .sig = SIGSTOP,
									      .rec = t->rec,
									      .len = (uint32_t)len});
		ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig);
		dise__thr_del(t, tid);
	}
	return 0;
}
