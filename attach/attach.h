/* SPDX-License-Identifier: MIT */
/*
 * The tracer: the records the shim would have written, produced from outside
 * by ptrace for a process that runs without the shim (`dise attach PID`).
 *
 * A tracer follows one process and everything it makes (threads, forked
 * children, exec'd images) and writes START / EXEC / EXIT / CRASH into the
 * ring with record/'s builders, so the collector needs nothing new and a
 * crash seen from outside gives the bytes the shim would have given from
 * inside. The traced programs behave as they would untraced: every stop is
 * resumed, every signal delivered as it was going to be (a fatal one after
 * the crash is recorded: the process dies as it would have, core included),
 * group-stops kept with PTRACE_LISTEN; on detach each thread is handed back
 * the signal it was about to get.
 *
 * Library code: no printing, no exit; errors are 0 / -errno. What a person
 * wants to see (a crash's stack, the other threads' stacks) is handed to a
 * report callback as CRASH-format records. A tracer is used by one thread;
 * from dise_tracer_open_ring (or its first wait) until dise_tracer_free it
 * blocks SIGCHLD, SIGINT, SIGTERM and SIGHUP in that thread (they are read
 * through a signalfd), so start other programs before.
 */
#ifndef DISE_ATTACH_H
#define DISE_ATTACH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dise/event.h"

typedef struct dise_tracer dise_tracer;

enum dise_tracer_what {
	DISE_TRACER_CRASH = 1, /* a crash was recorded (rec: the CRASH written to the ring) */
	DISE_TRACER_OTHERS,    /* the stacks of the nthreads other threads of pid follow */
	DISE_TRACER_THREAD,    /* one thread's stack, stopped by the tracer (rec: CRASH-format, not in the ring) */
};

struct dise_tracer_report {
	enum dise_tracer_what what;
	pid_t pid, tid;
	int sig;
	size_t nthreads;
	const void *rec; /* a record of len bytes, for record/decode.h; valid during the call */
	uint32_t len;
};
typedef void (*dise_tracer_report_fn)(void *ctx, const struct dise_tracer_report *r);

/* How a follow ended. */
struct dise_tracer_end {
	int ended; /* the process ended: status is its wait status */
	int status;
	int detached; /* asked to stop (a signal, or the time given): it runs on */
};

/*
 * A tracer for process pid (a thread-group leader); report (may be NULL: no
 * stacks are taken of the other threads of a crashing process) is called
 * with ctx. Pins the process (a pidfd, and its start time): if pid is
 * reused by another process before dise_tracer_seize, the seize fails with
 * -ESRCH instead of following the other one. Make it before checking what
 * the process is. Returns 0, -ESRCH, -ENOMEM.
 */
int dise_tracer_new(pid_t pid, dise_tracer_report_fn report, void *ctx, dise_tracer **ret);
/* Detaches what is still seized, frees. Accepts NULL, returns NULL. */
dise_tracer *dise_tracer_free(dise_tracer *t);

/*
 * Seizes every thread of the process (PTRACE_SEIZE: nothing is stopped),
 * following clone, fork, vfork, exec and exit when follow is set. On error
 * what was seized is detached again. Returns 0 or -errno (-EPERM: not
 * allowed; -ESRCH: gone, or the pid is no longer the pinned process's).
 */
int dise_tracer_seize(dise_tracer *t, int follow);
/* Threads seized. */
size_t dise_tracer_nthreads(const dise_tracer *t);

/*
 * Maps the ring at ring_path and records the process's START (flag
 * ATTACHED), as of when it started; from now on the stop signals are the
 * tracer's. Returns 0 or -errno.
 */
int dise_tracer_open_ring(dise_tracer *t, const char *ring_path);

/*
 * Follows until every process followed ended, a SIGINT / SIGTERM / SIGHUP
 * arrives, or detach_after_ms passed (0: no limit); then detaches what is
 * left, each run going on unwatched recorded as such. Returns 0 with *ret.
 */
int dise_tracer_run(dise_tracer *t, unsigned detach_after_ms, struct dise_tracer_end *ret);

/* Every thread stopped once, its stack reported (THREAD), then detached. Returns 0. */
int dise_tracer_snapshot(dise_tracer *t);

/*
 * The CRASH record of thread tid, stopped under ptrace (PTRACE_GETREGS, its
 * stack by process_vm_readv, /proc/TID/maps), of the run (pid,
 * run_start_ns), for signal sig with si_code and fault_addr, built by
 * record/ into buf. Returns its length, or -errno.
 */
int dise_tracer_capture(pid_t pid, uint64_t run_start_ns, pid_t tid, int sig, int si_code, uint64_t fault_addr,
			void *buf, uint32_t size);

/* ---- /proc questions the front asks before attaching ---- */

/* A process that pid traces (a debugger, strace, a sandbox), or 0. */
pid_t dise_attach_tracee_of(pid_t pid);
/* Whether libdise_shim.so is mapped in pid. */
int dise_attach_has_shim(pid_t pid);

#endif
