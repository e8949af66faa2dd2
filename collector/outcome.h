/* SPDX-License-Identifier: MIT */
/*
 * How a run ended (its outcome), and the one decision of whether that
 * ending is a failure. Ingest, the detectors, the healer and the CLI all
 * ask here: in C with dise_run_failed(), in SQL with the function
 * dise_failed(outcome, exit_status, normal) that the store registers on
 * every connection and that calls dise_run_failed().
 */
#ifndef DISE_OUTCOME_H
#define DISE_OUTCOME_H

#include "decode.h"
#include "names.h"

/*
 * The outcome a record gives its run: a CRASH crashes it; an EXIT ends it
 * ok or fail by its exit status, or, for `dise run`'s wait status, as that
 * status says (SIGKILL: vanished; a crash signal: crash); a detach leaves it
 * detached; an EXEC replaces it. -1 for a record that ends no run.
 */
int dise_outcome_of_record(const struct dise_record *rec);

/* The outcome of a wait(2) status: ok, fail, crash (a core-dumping signal) or vanished (SIGKILL); -1 for neither. */
int dise_outcome_of_wait_status(int status);

/*
 * Whether a run that ended with outcome (-1: not ended) and exit_status
 * (-1: none, the run died of a signal) is a failure: an ending that may
 * count against its version once compared with its ancestors (detect.c
 * decides whether it is a strike). A crash always (the caller drops the
 * ones dise_crash_sent_from_outside() says were sent); a fail with an exit
 * status that is neither one of the nnormal codes the tool's policy calls
 * normal (normal may be NULL) nor external (dise_exit_is_external()).
 * Never: ok, exec, detached, running; a death by a signal that is not a
 * crash; vanished (no EXIT record: SIGKILL, or a record dropped while the
 * ring was full: an ending dise could not see).
 */
int dise_run_failed(int outcome, int exit_status, const int *normal, int nnormal);

/* Whether an exit status tells of an ending from outside: 124 (timeout's), 128 + SIGHUP/INT/KILL/PIPE/TERM. */
int dise_exit_is_external(int exit_status);

/*
 * Whether a crash signal was sent by another process (kill, sigqueue: si_code
 * SI_USER or SI_QUEUE, with a sender other than pid) rather than raised by
 * the process itself. fault_addr: the CRASH record's, which holds si_pid
 * for those codes.
 */
int dise_crash_sent_from_outside(int si_code, uint64_t fault_addr, uint32_t pid);

#endif
