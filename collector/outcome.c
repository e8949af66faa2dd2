/* SPDX-License-Identifier: MIT */
/*
 * Outcomes and the failure decision (outcome.h): the only place that
 * knows which signals are crashes and which endings can count against a
 * version. DESIGN.md's words: a failure is a crash the process raised
 * itself, or a non-zero exit not listed as normal; a death by a signal sent
 * from outside, and an ending dise could not see (vanished), are endings,
 * not failures. Whether a failure is a strike (worse than the ancestors)
 * is the detectors' comparison (detect.c); this file only says which
 * endings may be compared at all.
 */
#include <signal.h>
#include <sys/wait.h>

#include "outcome.h"

static int is_crash_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGABRT || sig == SIGSYS ||
	       sig == SIGTRAP;
}

int dise_outcome_of_wait_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status) ? DISE_OUTCOME_FAIL : DISE_OUTCOME_OK;
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);

		return sig == SIGKILL ? DISE_OUTCOME_VANISHED : is_crash_signal(sig) ? DISE_OUTCOME_CRASH : DISE_OUTCOME_FAIL;
	}
	return -1;
}

int dise_outcome_of_record(const struct dise_record *rec)
{
	switch (rec->type) {
	case DISE_REC_CRASH: return DISE_OUTCOME_CRASH;
	case DISE_REC_EXEC: return DISE_OUTCOME_EXEC;
	case DISE_REC_EXIT:
		if (rec->u.exit.how == DISE_EXIT_DETACHED)
			return DISE_OUTCOME_DETACHED;
		if (rec->u.exit.how == DISE_EXIT_TRACED)
			return dise_outcome_of_wait_status(rec->u.exit.status);
		return (rec->u.exit.status & 0xff) ? DISE_OUTCOME_FAIL : DISE_OUTCOME_OK;
	case DISE_REC_REAP: return dise_outcome_of_wait_status(rec->u.reap.status); /* the child's, not the reaper's */
	default: return -1;
	}
}

int dise_exit_is_external(int exit_status)
{
	/*
	 * 124: timeout(1) (and GNU parallel, and others after it) saying the time
	 * ran out; 128 + SIGHUP, SIGINT, SIGKILL, SIGPIPE, SIGTERM: a shell, or a
	 * wrapper, reporting that its child was killed from outside.
	 */
	return exit_status == 124 || exit_status == 128 + SIGHUP || exit_status == 128 + SIGINT ||
	       exit_status == 128 + SIGKILL || exit_status == 128 + SIGPIPE || exit_status == 128 + SIGTERM;
}

int dise_crash_sent_from_outside(int si_code, uint64_t fault_addr, uint32_t pid)
{
	/*
	 * SI_USER: kill(2); SI_QUEUE: sigqueue(3). raise() and abort() use
	 * tgkill (SI_TKILL); a fault has si_code > 0. For SI_USER and SI_QUEUE
	 * the kernel fills si_pid where a fault's si_addr is (x86-64: the low 32
	 * bits of the CRASH record's fault address): a process that kills
	 * itself (`kill -SEGV $$` in a shell script) raised its crash itself.
	 */
	if (si_code != SI_USER && si_code != SI_QUEUE)
		return 0;
	return (uint32_t)(fault_addr & 0xffffffffu) != pid;
}

int dise_run_failed(int outcome, int exit_status, const int *normal, int nnormal)
{
	int i;

	switch (outcome) {
	case DISE_OUTCOME_CRASH: return 1;
	case DISE_OUTCOME_FAIL:
		if (exit_status < 0) /* died of a signal that is not a crash (dise run saw it): sent from outside */
			return 0;
		if (dise_exit_is_external(exit_status))
			return 0;
		for (i = 0; normal && i < nnormal; i++)
			if (normal[i] == exit_status)
				return 0;
		return 1;
	default: return 0; /* ok, exec, detached; vanished: an ending dise could not see */
	}
}
