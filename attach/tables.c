/* SPDX-License-Identifier: MIT */
/*
 * The tracer's tables: the threads seized (tid -> thread group), the runs
 * followed (one per process, from its START), the wait statuses queued
 * while the stacks of a crashing process were taken, and the tasks that
 * ended before their parent's event announced them. Invariant: a thread is
 * in the table exactly while it is traced; a process while its run has no
 * EXIT yet. Small arrays searched linearly: a traced process has tens of
 * threads, not thousands. Removal moves the last entry into the hole, so a
 * pointer into a table is valid only until the next add or removal.
 */
#include <stdlib.h>

#include "internal.h"

struct thr *dise__thr_find(dise_tracer *t, pid_t tid)
{
	for (size_t i = 0; i < t->nt; i++)
		if (t->t[i].tid == tid)
			return &t->t[i];
	return NULL;
}

struct thr *dise__thr_add(dise_tracer *t, pid_t tid, pid_t tgid)
{
	struct thr *h = dise__thr_find(t, tid);

	if (h)
		return h;
	if (t->nt == t->capt) {
		size_t cap = t->capt ? t->capt * 2 : 64;
		struct thr *n = realloc(t->t, cap * sizeof(*n));

		if (!n)
			return NULL;
		t->t = n;
		t->capt = cap;
	}
	t->t[t->nt] = (struct thr){tid, tgid, 0};
	return &t->t[t->nt++];
}

void dise__thr_del(dise_tracer *t, pid_t tid)
{
	for (size_t i = 0; i < t->nt; i++)
		if (t->t[i].tid == tid) {
			t->t[i] = t->t[--t->nt];
			return;
		}
}

struct proc *dise__proc_find(dise_tracer *t, pid_t pid)
{
	for (size_t i = 0; i < t->np; i++)
		if (t->p[i].pid == pid)
			return &t->p[i];
	return NULL;
}

struct proc *dise__proc_add(dise_tracer *t, pid_t pid, uint64_t run_start_ns)
{
	if (t->np == t->capp) {
		size_t cap = t->capp ? t->capp * 2 : 16;
		struct proc *n = realloc(t->p, cap * sizeof(*n));

		if (!n)
			return NULL;
		t->p = n;
		t->capp = cap;
	}
	t->p[t->np] = (struct proc){.pid = pid, .run_start_ns = run_start_ns};
	return &t->p[t->np++];
}

void dise__proc_del(dise_tracer *t, struct proc *p)
{
	*p = t->p[--t->np];
}

void dise__pend_push(dise_tracer *t, pid_t tid, int status)
{
	if (t->npend == t->cappend) {
		size_t cap = t->cappend ? t->cappend * 2 : 16;
		struct pending *n = realloc(t->pend, cap * sizeof(*n));

		if (!n)
			return; /* the stop stays: the kernel detaches it when we exit */
		t->pend = n;
		t->cappend = cap;
	}
	t->pend[t->npend++] = (struct pending){tid, status};
}

pid_t dise__live_task(const dise_tracer *t, pid_t pid)
{
	if (t->zombie_leader && pid == t->pid)
		for (size_t i = 0; i < t->nt; i++)
			if (t->t[i].tgid == pid && t->t[i].tid != pid)
				return t->t[i].tid;
	return pid;
}

void dise__early_end_note(dise_tracer *t, pid_t tid)
{
	t->early_end[t->nearly_end++ % DISE_EARLY_ENDS] = tid;
}

int dise__early_end_take(dise_tracer *t, pid_t tid)
{
	size_t n = t->nearly_end < DISE_EARLY_ENDS ? t->nearly_end : DISE_EARLY_ENDS;

	for (size_t i = 0; i < n; i++)
		if (t->early_end[i] == tid) {
			t->early_end[i] = 0;
			return 1;
		}
	return 0;
}
