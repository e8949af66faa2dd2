/* SPDX-License-Identifier: MIT */
/*
 * The tracer's state, shared by attach/tracer.c (attach, follow, detach),
 * attach/events.c (what each ptrace stop means), attach/wait.c (waiting) and
 * attach/records.c (what the events become in the ring). All of it lives in
 * struct dise_tracer: no file-global state, no static buffers.
 */
#ifndef DISE_ATTACH_INTERNAL_H
#define DISE_ATTACH_INTERNAL_H

#include <signal.h>

#include "attach.h"
#include "dise/ring.h"
#include "record.h"

struct thr {
	pid_t tid, tgid;
	int announced; /* seized, or its parent's fork or clone event was seen */
};

/* Tasks that ended before their parent's event announced them: at most this many are remembered. */
#define DISE_EARLY_ENDS 64

/* A run followed: a process, from its START (attach, fork or exec) on. */
struct proc {
	pid_t pid;
	uint64_t run_start_ns;
	uint64_t user_ns, sys_ns, maxrss_kb; /* at the last exit stop seen */
	int exit_msg, have_exit_msg;	     /* the status an exit stop told (for a leader we do not trace) */
};

/* A wait status taken while stacks were collected, handled after. */
struct pending {
	pid_t tid;
	int status;
};

/* process_vm_readv into a buffer of the reader's: a dise_rec_mem_fn context. */
struct remote_mem {
	pid_t tid;
	uint8_t buf[DISE_CRASH_STACK_MAX];
};

struct dise_tracer {
	pid_t pid;		/* the process attached to */
	uint64_t start_mono_ns; /* its start on CLOCK_MONOTONIC */
	uint64_t start_wall_ns; /* and on CLOCK_REALTIME */
	int zombie_leader;	/* its main thread had ended before the attach */
	int pidfd;		/* the process attached to, pinned at dise_tracer_new (-1: no pidfd_open) */
	long long start_ticks;	/* and its start time in /proc/PID/stat, checked again after the seize */
	int late_fork_events;	/* test switch DISE_TEST_ATTACH_LATE_FORK: see a forked child's life before its parent's event */
	pid_t early_end[DISE_EARLY_ENDS]; /* ended before announced, oldest overwritten (tables.c) */
	size_t nearly_end;
	struct thr *t;
	size_t nt, capt;
	struct proc *p;
	size_t np, capp;
	struct pending *pend;
	size_t npend, cappend;
	dise_ring ring;
	int have_ring;
	int sigfd;	/* SIGCHLD, SIGINT, SIGTERM, SIGHUP while following; -1 otherwise */
	int stop_asked; /* SIGINT, SIGTERM or SIGHUP came */
	struct dise_tracer_end end;
	sigset_t old_mask; /* the thread's mask before */
	dise_tracer_report_fn report;
	void *report_ctx;
	struct remote_mem mem;
	uint8_t rec[DISE_RECORD_MAX]; /* the record being built */
};

/* tables.c; an add returns NULL when out of memory */
struct thr *dise__thr_find(dise_tracer *t, pid_t tid);
struct thr *dise__thr_add(dise_tracer *t, pid_t tid, pid_t tgid); /* or the one there */
void dise__thr_del(dise_tracer *t, pid_t tid);
struct proc *dise__proc_find(dise_tracer *t, pid_t pid);
struct proc *dise__proc_add(dise_tracer *t, pid_t pid, uint64_t run_start_ns);
void dise__proc_del(dise_tracer *t, struct proc *p);
void dise__pend_push(dise_tracer *t, pid_t tid, int status); /* dropped when out of memory */
/* A task that ended before its parent's event: remembered, so that the late event makes no run of it. */
void dise__early_end_note(dise_tracer *t, pid_t tid);
/* Whether tid ended before it was announced (forgotten once asked). */
int dise__early_end_take(dise_tracer *t, pid_t tid);
/* The task through which /proc tells about process pid (a live thread when its leader is a zombie). */
pid_t dise__live_task(const dise_tracer *t, pid_t pid);

/* records.c: the records of one followed process */
void dise__record_start(dise_tracer *t, const struct proc *p, uint32_t flags, uint64_t wall_ns);
void dise__record_exec(dise_tracer *t, const struct proc *p);
void dise__record_exit(dise_tracer *t, const struct proc *p, int status, unsigned how);
/* CPU times and peak RSS of p now (an exit stop: /proc still has them). */
void dise__proc_times(struct proc *p);
/* Builds in t->rec the CRASH of stopped thread tid of p. Returns its length, or -errno. */
int dise__capture(dise_tracer *t, const struct proc *p, pid_t tid, int sig, const siginfo_t *si);
/* Writes a record to the ring (when one is open). */
void dise__put(dise_tracer *t, const void *rec, uint32_t len);

/* wait.c: interrupts tid and waits for its next wait status; 1 with *st, or 0 (given up) */
int dise__interrupt_and_wait(dise_tracer *t, pid_t tid, int *st);
/* wait.c: the signals of the set blocked and read from t->sigfd (0 or -errno); back as they were */
int dise__signals_on(dise_tracer *t);
void dise__signals_off(dise_tracer *t);
/* wait.c: sleeps until a signal of the set arrives or timeout_ms pass; notes a request to stop */
void dise__sleep_signals(dise_tracer *t, int timeout_ms);
uint64_t dise__mono_ms(void);
/* events.c: a wait status, then the ones queued while it was handled; an ended task's end */
void dise__tracer_handle(dise_tracer *t, pid_t tid, int st);
void dise__tracer_on_end(dise_tracer *t, pid_t tid, int st);

#endif
