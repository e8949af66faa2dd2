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
 * counts as a failure: a crash or a vanishing always, a fail unless its
 * exit status is one of the nnormal codes the tool's policy calls normal
 * (normal may be NULL). Anything else (ok, exec, detached, running) never.
 */
int dise_run_failed(int outcome, int exit_status, const int *normal, int nnormal);

#endif
