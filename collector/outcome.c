/* SPDX-License-Identifier: MIT */
/*
 * Outcomes and the failure decision (outcome.h): the only place that
 * knows which signals are crashes and which endings count against a
 * version. DESIGN.md's words: a failure is a crash, or a non-zero exit not
 * listed as normal; a run that vanished (SIGKILL, the OOM killer) counts too.
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
	default: return -1;
	}
}

int dise_run_failed(int outcome, int exit_status, const int *normal, int nnormal)
{
	int i;

	switch (outcome) {
	case DISE_OUTCOME_CRASH:
	case DISE_OUTCOME_VANISHED: return 1;
	case DISE_OUTCOME_FAIL:
		for (i = 0; normal && i < nnormal; i++)
			if (normal[i] == exit_status)
				return 0;
		return 1;
	default: return 0;
	}
}
