/* SPDX-License-Identifier: MIT */
/*
 * The tracer's ptrace protocol, one function per kind of wait status
 * (attach/tracer.c attaches, waits and detaches; attach/records.c makes the
 * records).
 *
 * Invariant: every stop a handler sees is resumed before it returns, with the
 * signal it was about to deliver (a signal-delivery-stop) or none (an event
 * stop), or kept as a group-stop with PTRACE_LISTEN — so a traced program runs
 * as it would untraced. The one exception is deliberate and short: while the
 * stacks of the other threads of a crashing process are taken, each stays
 * stopped and its wait status is queued (t->pend), then handled as usual.
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
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "proc.h"
/* A new process followed from its first stop or its parent's fork event: a FORK START. */
static void proc_new(dise_tracer *t, pid_t pid)
{
	struct proc *q = dise__proc_add(t, pid, dise_rec_clock_ns(CLOCK_MONOTONIC));

	if (q)
		dise__record_start(t, q, DISE_START_FORK, dise_rec_clock_ns(CLOCK_REALTIME));
}

/* ---- one function per kind of wait status ---- */

/* The task ended (exit or fatal signal): a process ends its run with TRACED. */
void dise__tracer_on_end(dise_tracer *t, pid_t tid, int st)
{
	struct proc *q = dise__proc_find(t, tid);
	struct thr *h = dise__thr_find(t, tid);

	if (!h || !h->announced)
		dise__early_end_note(t, tid); /* its parent's event is still to come: it must not make a run again */

	if (q) {
		dise__record_exit(t, q, st, DISE_EXIT_TRACED);
		if (tid == t->pid) {
			t->end.ended = 1;
			t->end.status = st;
		}
		dise__proc_del(t, q);
	}
	dise__thr_del(t, tid);
}

/* PTRACE_EVENT_STOP: a group-stop stays a stop; otherwise the first stop of a new task, or an interrupt. */
static void on_event_stop(dise_tracer *t, struct thr *h, pid_t tid, int sig)
{
	if (h->tgid == tid && h->tgid > 0 && !dise__proc_find(t, tid))
		proc_new(t, tid);
	if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
		ptrace(PTRACE_LISTEN, tid, NULL, NULL);
	else
		ptrace(PTRACE_CONT, tid, NULL, NULL);
}

static void dispatch(dise_tracer *t, pid_t tid, int st, int nested);

/*
 * Test switch (DISE_TEST_ATTACH_LATE_FORK): the whole life of child c is
 * handled before its parent's fork event, an order the kernel may deliver
 * (the child's stops come first, and a short child ends before the parent
 * reaches its event stop), made certain for a test.
 */
static void see_child_life(dise_tracer *t, pid_t c)
{
	int st;

	while (waitpid(c, &st, __WALL) == c) {
		dispatch(t, c, st, 1);
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
	}
}

/*
 * PTRACE_EVENT_FORK / VFORK / CLONE: the new task is traced; a new process
 * is a run of its own. The child's first stop, and even its end, may have
 * come before this event: a child already known is only marked announced,
 * and one that already ended is not made again (a phantom run with no
 * tool and no end).
 */
static void on_new_task(dise_tracer *t, struct thr *h, pid_t tid, int ev)
{
	unsigned long child = 0;
	pid_t tgid = h->tgid;

	if (ptrace(PTRACE_GETEVENTMSG, tid, NULL, &child) == 0 && child) {
		pid_t c = (pid_t)child, tg;
		struct thr *k;

		if (t->late_fork_events && ev == PTRACE_EVENT_FORK)
			see_child_life(t, c); /* may move h */
		if ((k = dise__thr_find(t, c))) {
			k->announced = 1;
		} else if (!dise__early_end_take(t, c)) {
			tg = ev == PTRACE_EVENT_CLONE ? (pid_t)dise_proc_status_num(c, "Tgid", 10) : c;
			if (tg <= 0)
				tg = ev == PTRACE_EVENT_CLONE ? tgid : c;
			if ((k = dise__thr_add(t, c, tg)))
				k->announced = 1;
			if (tg == c && !dise__proc_find(t, c))
				proc_new(t, c);
		}
	}
	ptrace(PTRACE_CONT, tid, NULL, NULL);
}

/* PTRACE_EVENT_EXEC: the old image's EXEC, then the new image's START. */
static void on_exec(dise_tracer *t, struct thr *h, pid_t tid)
{
	unsigned long former = 0;
	pid_t tgid = h->tgid;
	struct proc *q = dise__proc_find(t, tgid);
	size_t k;

	/* the other threads are gone; a non-leader that exec'd now has the leader's id */
	if (ptrace(PTRACE_GETEVENTMSG, tid, NULL, &former) == 0 && (pid_t)former != tid)
		dise__thr_del(t, (pid_t)former);
	for (k = 0; k < t->nt;)
		if (t->t[k].tgid == tgid && t->t[k].tid != tid)
			t->t[k] = t->t[--t->nt];
		else
			k++;
	if (q) {
		dise__record_exec(t, q);
		q->run_start_ns = dise_rec_clock_ns(CLOCK_MONOTONIC);
		q->user_ns = q->sys_ns = q->maxrss_kb = 0;
		dise__record_start(t, q, 0, dise_rec_clock_ns(CLOCK_REALTIME));
	}
	ptrace(PTRACE_CONT, tid, NULL, NULL);
}

/* PTRACE_EVENT_EXIT: the last moment /proc has the times; the status, for a leader we could not trace. */
static void on_exit_stop(dise_tracer *t, struct thr *h, pid_t tid)
{
	struct proc *q = dise__proc_find(t, h->tgid);
	unsigned long msg;

	if (q) {
		dise__proc_times(q);
		if (ptrace(PTRACE_GETEVENTMSG, tid, NULL, &msg) == 0) {
			q->exit_msg = (int)msg;
			q->have_exit_msg = 1;
		}
	}
	ptrace(PTRACE_CONT, tid, NULL, NULL);
}

static int is_core_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGABRT || sig == SIGSYS ||
	       sig == SIGTRAP;
}

/*
 * Whether sig, about to be delivered to thread tid, ends its process
 * (neither caught nor ignored: the dispositions are the process's, read
 * through the thread, whose /proc entry lives on when the leader is gone).
 */
static int fatal(pid_t tid, int sig)
{
	unsigned long long bit = 1ull << (sig - 1);

	return !(dise_proc_status_mask(tid, "SigCgt") & bit) && !(dise_proc_status_mask(tid, "SigIgn") & bit);
}

/*
 * The stacks of the other threads of q, whose thread crashing is about to
 * die: each is interrupted and its stack reported; its wait status (the
 * interrupt, or whatever came first) is queued and handled after.
 */
static void other_stacks(dise_tracer *t, struct proc *q, pid_t crashing)
{
	pid_t qpid = q->pid, *tids = calloc(t->nt + 1, sizeof(*tids));
	size_t n = 0, i;

	if (!tids)
		return;
	for (i = 0; i < t->nt; i++)
		if (t->t[i].tgid == qpid && t->t[i].tid != crashing)
			tids[n++] = t->t[i].tid;
	if (n)
		t->report(t->report_ctx,
			  &(struct dise_tracer_report){.what = DISE_TRACER_OTHERS, .pid = qpid, .nthreads = n});
	for (i = 0; i < n; i++) {
		struct proc *p = dise__proc_find(t, tids[i]) ? dise__proc_find(t, tids[i]) : dise__proc_find(t, qpid);
		int st, len;

		if (!dise__interrupt_and_wait(t, tids[i], &st))
			continue;
		if (WIFSTOPPED(st) && p && (len = dise__capture(t, p, tids[i], SIGSTOP, NULL)) > 0)
			t->report(t->report_ctx, &(struct dise_tracer_report){.what = DISE_TRACER_THREAD,
									      .pid = qpid,
									      .tid = tids[i],
									      .sig = SIGSTOP,
									      .rec = t->rec,
									      .len = (uint32_t)len});
		dise__pend_push(t, tids[i], st);
	}
	free(tids);
}

/* A signal-delivery-stop: a fatal signal that dumps core is recorded first; then it is delivered. */
static void on_signal(dise_tracer *t, struct thr *h, pid_t tid, int sig, int nested)
{
	struct proc *q = dise__proc_find(t, h->tgid);
	pid_t tgid = h->tgid;
	siginfo_t si;
	int len;

	if (q && is_core_signal(sig) && fatal(tid, sig)) {
		if (ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) < 0)
			memset(&si, 0, sizeof(si));
		if ((len = dise__capture(t, q, tid, sig, &si)) > 0) {
			dise__put(t, t->rec, (uint32_t)len);
			if (t->report) {
				t->report(t->report_ctx, &(struct dise_tracer_report){.what = DISE_TRACER_CRASH,
										      .pid = tgid,
										      .tid = tid,
										      .sig = sig,
										      .rec = t->rec,
										      .len = (uint32_t)len});
				if (!nested)
					other_stacks(t, q, tid);
			}
		}
	}
	ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig);
}

/*
 * One wait status of a traced task. nested: taken while the stacks of a
 * crashing process's threads were collected (their own crash does not stop
 * the others again).
 */
static void dispatch(dise_tracer *t, pid_t tid, int st, int nested)
{
	struct thr *h = dise__thr_find(t, tid);
	int ev;

	if (!h && (WIFEXITED(st) || WIFSIGNALED(st))) {
		dise__early_end_note(t, tid); /* ended before anything announced it */
		return;
	}
	if (!h) /* a new task's first stop can come before its parent's event */
		h = dise__thr_add(t, tid, (pid_t)dise_proc_status_num(tid, "Tgid", 10));
	if (!h)
		return;
	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		dise__tracer_on_end(t, tid, st);
		return;
	}
	if (!WIFSTOPPED(st))
		return;
	ev = st >> 16;
	if (ev == PTRACE_EVENT_STOP)
		on_event_stop(t, h, tid, WSTOPSIG(st));
	else if (ev == PTRACE_EVENT_FORK || ev == PTRACE_EVENT_VFORK || ev == PTRACE_EVENT_CLONE)
		on_new_task(t, h, tid, ev);
	else if (ev == PTRACE_EVENT_EXEC)
		on_exec(t, h, tid);
	else if (ev == PTRACE_EVENT_EXIT)
		on_exit_stop(t, h, tid);
	else if (ev)
		ptrace(PTRACE_CONT, tid, NULL, NULL);
	else
		on_signal(t, h, tid, WSTOPSIG(st), nested);
}

/* A status, then the ones queued while it was handled. */
void dise__tracer_handle(dise_tracer *t, pid_t tid, int st)
{
	size_t i;

	dispatch(t, tid, st, 0);
	for (i = 0; i < t->npend; i++)
		dispatch(t, t->pend[i].tid, t->pend[i].status, 1);
	t->npend = 0;
}
