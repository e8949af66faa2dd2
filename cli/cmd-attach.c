/* SPDX-License-Identifier: MIT */
/*
 * `dise attach PID`: the command-line front of the tracer (attach/).
 *
 * It checks what can be told before attaching (no such process, a thread
 * and not a process, a process that is itself a tracer, one the shim
 * already watches), seizes, starts the collector as `dise run` does, and
 * follows until the process ends, Ctrl-C / SIGTERM / SIGHUP, or
 * --detach-after. What it prints is its own: the tracer reports a crash and
 * the other threads' stacks as records, unwound and symbolized here by
 * collector/unwind.c. --stack: every thread's stack once, then detach.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"
#include "decode.h"
#include "dise/ring.h"
#include "proc.h"
#include "record-json.h"
#include "unwind.h"

/* Prints the symbolized stack of a captured record, eu-stack style. */
static void print_stack(FILE *out, const void *b, uint32_t len, pid_t tid)
{
	struct dise_record rec;
	struct dise_frame fr[DISE_MAX_FRAMES];
	const char *why = NULL;
	int n, i;

	dise_cli_print(out, "TID %d:\n", (int)tid);
	if (dise_record_decode(b, len, &rec, &why) < 0) {
		dise_cli_print(out, "  (no stack: %s)\n", why ? why : "bad capture");
		return;
	}
	n = dise_unwind_crash(&rec, fr, DISE_MAX_FRAMES);
	for (i = 0; i < n; i++) {
		const char *mod = fr[i].module ? strrchr(fr[i].module, '/') : NULL;

		dise_cli_print(out, "#%-2d 0x%016" PRIx64 " %s", i, fr[i].ip, fr[i].symbol[0] ? fr[i].symbol : "??");
		if (fr[i].symbol[0] && fr[i].symbol_off)
			dise_cli_print(out, "+0x%" PRIx64, fr[i].symbol_off);
		if (fr[i].module)
			dise_cli_print(out, " (%s+0x%" PRIx64 ")", mod ? mod + 1 : fr[i].module, fr[i].module_off);
		fputc('\n', out);
	}
	if (n < 0)
		dise_cli_print(out, "  (no stack: %s)\n", strerror(-n));
}

/* What the tracer reports: ctx is the stream. */
static void report(void *ctx, const struct dise_tracer_report *r)
{
	FILE *out = ctx;

	switch (r->what) {
	case DISE_TRACER_CRASH:
		dise_cli_print(out, "dise attach: process %d gets %s on thread %d; recorded:\n", (int)r->pid,
			dise_signal_name(r->sig), (int)r->tid);
		print_stack(out, r->rec, r->len, r->tid);
		break;
	case DISE_TRACER_OTHERS:
		dise_cli_print(out, "dise attach: the other %zu thread%s of process %d:\n", r->nthreads,
			r->nthreads == 1 ? "" : "s", (int)r->pid);
		break;
	case DISE_TRACER_THREAD: print_stack(out, r->rec, r->len, r->tid); break;
	}
}

/* One line saying why pid cannot be attached, from errno err. Returns the exit code. */
static int attach_error(pid_t pid, int err)
{
	char buf[64];
	long long tracer = dise_proc_status_num(pid, "TracerPid", 10);

	if (err == ESRCH) {
		dise_cli_print(stderr, "dise attach: process %d exited during attach%s\n", (int)pid,
			       kill(pid, 0) == 0 ? " (its pid names another process now, which is not followed)" : "");
		return 1;
	}
	if (tracer > 0) {
		dise_cli_print(stderr,
			"dise attach: process %d is already traced by process %lld (a debugger?); dise does not "
			"interfere\n",
			(int)pid, tracer);
		return 1;
	}
	if (err == EPERM) {
		int scope = dise_read_small("/proc/sys/kernel/yama/ptrace_scope", buf, sizeof(buf)) > 0 ? atoi(buf) : 0;

		if (scope >= 3)
			dise_cli_print(stderr,
				"dise attach: permission denied for process %d: Yama's ptrace_scope is 3, ptrace is "
				"disabled on this system until reboot\n",
				(int)pid);
		else if (scope == 2)
			dise_cli_print(stderr,
				"dise attach: permission denied for process %d: Yama's ptrace_scope is 2, only a "
				"process with CAP_SYS_PTRACE may attach (run as root)\n",
				(int)pid);
		else if (scope == 1 && geteuid() != 0)
			dise_cli_print(
			    stderr,
			    "dise attach: permission denied for process %d: Yama's ptrace_scope is %d, so attaching to "
			    "a process that is not your child needs CAP_SYS_PTRACE (run as root), or start the program "
			    "under the shim with DISE_PTRACER=any\n",
			    (int)pid, scope);
		else
			dise_cli_print(stderr,
				"dise attach: permission denied for process %d: it belongs to another user or is not "
				"dumpable; run as root\n",
				(int)pid);
		return 1;
	}
	dise_cli_print(stderr, "dise attach: cannot attach to process %d: %s\n", (int)pid, strerror(err));
	return 1;
}

/* --stack: every thread stopped once, its stack printed, then detached. */
static int snapshot(dise_tracer *t, pid_t pid)
{
	char comm[64], path[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (dise_read_small(path, comm, sizeof(comm)) < 0)
		comm[0] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	dise_cli_print(stdout, "PID %d - process %s\n", (int)pid, comm);
	dise_tracer_snapshot(t);
	fflush(stdout);
	return 0;
}

/* Checks what can be told before attaching. Returns 0, or the exit code after saying why not. */
static int precheck(pid_t pid, int stack)
{
	long long tgid;
	pid_t r;

	if (pid == getpid()) {
		dise_cli_print(stderr, "dise attach: %d is dise attach itself\n", (int)pid);
		return 1;
	}
	if (kill(pid, 0) < 0 && errno == ESRCH) {
		dise_cli_print(stderr, "dise attach: no such process: %d\n", (int)pid);
		return 1;
	}
	if ((tgid = dise_proc_status_num(pid, "Tgid", 10)) != pid) {
		dise_cli_print(stderr, "dise attach: %d is a thread of process %lld; attach to the process\n", (int)pid, tgid);
		return 1;
	}
	if (!stack && (r = dise_attach_tracee_of(pid)) > 0) {
		dise_cli_print(stderr,
			"dise attach: process %d traces process %d itself (a debugger or tracer); following it "
			"would take its children from it, so dise does not attach\n",
			(int)pid, (int)r);
		return 1;
	}
	if (!stack && dise_attach_has_shim(pid)) {
		dise_cli_print(stderr,
			"dise attach: process %d is already watched by the dise shim (LD_PRELOAD); its runs are "
			"recorded\n",
			(int)pid);
		return 1;
	}
	return 0;
}

int dise_cli_attach(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_STACK = DISE_CLI_OPT_FIRST, OPT_QUIET, OPT_DETACH_AFTER };
	static const struct option opts[] = { { "stack", no_argument, NULL, OPT_STACK },
					      { "quiet", no_argument, NULL, OPT_QUIET },
					      { "detach-after", required_argument, NULL, OPT_DETACH_AFTER },
					      DISE_CLI_OPT_END };
	char ring_path[DISE_PATH_MAX] = "", *operand;
	long detach_after = 0;
	int stack = 0, quiet = 0, c, r, rc;
	pid_t pid = 0;
	dise_tracer *t = NULL;
	struct dise_tracer_end how;

	/* options anywhere: `dise attach PID --stack` */
	while ((c = dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd)) != -1) {
		switch (c) {
		case OPT_STACK: stack = 1; break;
		case OPT_QUIET: quiet = 1; break;
		case OPT_DETACH_AFTER:
			detach_after = (long)dise_cli_number(optarg, 1, 86400 * 365, "--detach-after", cmd);
			break;
		}
	}
	operand = dise_cli_operands(argc, argv, 1, 1, cmd)[0];
	pid = (pid_t)dise_cli_number(operand, 1, INT_MAX, "PID", cmd);
	/*
	 * The process is pinned first (dise_tracer_new), then checked, then
	 * seized: a pid reused meanwhile makes the seize fail instead of
	 * following another process. --stack prints the stacks whatever --quiet
	 * says; following, they go to stderr.
	 */
	if (pid == getpid())
		return precheck(pid, stack);
	r = dise_tracer_new(pid, stack || !quiet ? report : NULL, stack ? (void *)stdout : (void *)stderr, &t);
	if (r == -ESRCH) {
		dise_cli_print(stderr, "dise attach: no such process: %d\n", (int)pid);
		return 1;
	}
	if (r < 0)
		return dise_cli_error(r, "attach");
	if ((rc = precheck(pid, stack)) != 0)
		goto out;
	signal(SIGPIPE, SIG_IGN); /* `dise attach PID | head`: a closed pipe must not end the watch, and with it a
				     signal in flight */

	if ((r = dise_tracer_seize(t, !stack)) < 0) {
		rc = attach_error(pid, -r);
		goto out;
	}
	if (stack) {
		rc = snapshot(t, pid);
		goto out;
	}
	/*
	 * As `dise run` does: a collector turns what is recorded into runs and
	 * crashes. Started once attaching worked (permission errors come first),
	 * before any event is handled; its launcher is reaped by pid.
	 */
	if (dise_cli_collector_ensure() != 0)
		dise_cli_print(stderr, "dise attach: no collector runs; the records wait in the ring\n");
	r = dise_cli_ring_path(ring_path, sizeof(ring_path), 0);
	if (r == 0)
		r = dise_tracer_open_ring(t, ring_path);
	if (r < 0) {
		rc = dise_cli_error(r, "cannot open the ring '%s'", r == -ENAMETOOLONG ? "(path too long)" : ring_path);
		goto out;
	}
	if (!quiet)
		dise_cli_print(stderr, "dise attach: watching process %d (%zu thread%s); Ctrl-C detaches\n", (int)pid,
			dise_tracer_nthreads(t), dise_tracer_nthreads(t) == 1 ? "" : "s");
	if ((r = dise_tracer_run(t, (unsigned)detach_after * 1000u, &how)) < 0) {
		rc = dise_cli_error(r, "following process %d", (int)pid);
		goto out;
	}
	if (!quiet) {
		if (how.detached)
			dise_cli_print(stderr, "dise attach: detached from process %d; it runs on\n", (int)pid);
		else if (how.ended && WIFEXITED(how.status))
			dise_cli_print(stderr, "dise attach: process %d exited with status %d\n", (int)pid,
				WEXITSTATUS(how.status));
		else if (how.ended && WIFSIGNALED(how.status))
			dise_cli_print(stderr, "dise attach: process %d was killed by %s%s\n", (int)pid,
				dise_signal_name(WTERMSIG(how.status)), WCOREDUMP(how.status) ? " (core dumped)" : "");
	}
out:
	dise_tracer_free(t);
	return rc;
}
