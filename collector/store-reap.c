/* SPDX-License-Identifier: MIT */
/*
 * REAP records (include/dise/event.h): a watched parent's wait status ends
 * its child's run when nothing else did. The child is the latest run of
 * the reaped pid, in the same ring epoch, that began before the reap, after
 * the reaper's own run began, and whose START names the reaper as its
 * parent: from the fork to the reap the pid was the child's (a zombie keeps
 * its pid), so the child's runs are the latest before the reap. A child
 * killed before its shim wrote START has no run: what the pid names then
 * is an older process, which the bounds keep out (an older child of the
 * same reaper image with the same pid would also have to have escaped its
 * own REAP; a child forked before the reaper exec'd is not matched, a
 * missed ending rather than a wrong one). Only a run without an ending (or called vanished for
 * want of one) takes it: an EXIT or a CRASH the child wrote itself stays,
 * and an image replaced by exec is not the one that ended. The ending is
 * the wait status's (outcome.c), as for `dise run`'s wait4.
 */
#define _GNU_SOURCE
#include <sys/wait.h>

#include "outcome.h"
#include "store-internal.h"

int dise__store_add_reap(dise_store *st, uint64_t epoch, const struct dise_record *rec)
{
	static const char sql[] =
		"UPDATE runs SET end_ns = ?4, outcome = ?5, exit_status = ?6, signal = ?7, reaped = 1, " TOUCH("runs") ", "
		"user_ns = COALESCE(user_ns, ?8), sys_ns = COALESCE(sys_ns, ?9), maxrss_kb = COALESCE(maxrss_kb, ?10) "
		"WHERE id = (SELECT id FROM runs WHERE epoch = ?1 AND pid = ?2 AND start_ns < ?3 ORDER BY start_ns DESC LIMIT 1) "
		"AND ppid = ?11 AND start_ns >= ?12 AND (outcome IS NULL OR outcome = 'vanished')";
	const struct dise_rec_reap *w = &rec->u.reap;
	int outcome = dise_outcome_of_wait_status(w->status);

	if (outcome < 0) /* the decoder lets only endings through */
		return 0;
	return dise__exec(st, sql, "iiiisnniiiii", (int64_t)epoch, (int64_t)w->child_pid, (int64_t)rec->hdr.mono_ns,
			  (int64_t)rec->hdr.mono_ns, dise_outcome_name(outcome),
			  (int64_t)(WIFEXITED(w->status) ? WEXITSTATUS(w->status) : -1),
			  (int64_t)(WIFSIGNALED(w->status) ? WTERMSIG(w->status) : -1), (int64_t)w->user_ns,
			  (int64_t)w->sys_ns, (int64_t)w->maxrss_kb, (int64_t)rec->hdr.pid, (int64_t)rec->hdr.run_start_ns);
}
