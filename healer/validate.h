/* SPDX-License-Identifier: MIT */
/* Validating a candidate version before it is routed to: test command, rule replay. */
#ifndef DISE_HEAL_VALIDATE_H
#define DISE_HEAL_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

/*
 * Runs path with argv in cwd (NULL: here), the environment minus LD_PRELOAD
 * plus DISE_DISABLE=1 and extra_env ("K=V", may be NULL), stdio on
 * /dev/null, in a process group of its own. Returns 0 with the wait status
 * in *status, -ETIMEDOUT after killing the group at timeout_ms, or -errno.
 */
int dise_validate_spawn(const char *path, char *const argv[], const char *cwd, const char *extra_env,
			unsigned timeout_ms, int *status);

/*
 * The tool's test command (`sh -c`, DISE_CANDIDATE=candidate). Returns 0
 * when it passed, 1 when it failed or timed out, -errno when it could not
 * run; why says which, in one line.
 */
int dise_validate_test(const struct dise_tool_policy *p, const char *candidate, char *why, size_t size);

/*
 * Replays every rule of tool that keeps an invocation (only_rule > 0: that
 * one) against candidate (a runnable copy): the rule's argv (argv[0] as the
 * tool was run) in its cwd.
 * Returns 1 when one fails the same way (the rule's signal, or its exit
 * status), 0 when none does, -errno when one could not run; why says which.
 */
int dise_validate_rules(dise_store *st, const char *tool, int64_t only_rule, const char *candidate, unsigned timeout_ms,
			char *why, size_t size);

/* argv from the JSON array a rule keeps (argv[0]: the name the tool was run by), NULL when it is none; to free. */
char **dise_validate_argv(const char *json);
void dise_validate_argv_free(char **argv);
/*
 * A #! script's run is recorded as its interpreter's: [interp, (the #!
 * line's optional argument,) script, args...], or for #!/usr/bin/env NAME,
 * NAME's [NAME, script, args...]. For a candidate that is a #! script and
 * an argv recorded so, the argv to run the candidate with: from the
 * script's slot on (its argv[0], then the args); else rv as it is.
 */
char *const *dise_validate_script_args(char *const *rv, const char *candidate);
/* Whether wait status ended the way rule t describes (its signal, or its exit status). */
int dise_validate_fails_like(const struct dise_replay *t, int status);

/*
 * Restore in place: path gets the bytes of from (the healthy copy), through
 * a temporary file in the same directory, fsync, rename, with path's mode
 * and owner kept; only if path still holds expect_sha (the pruned content).
 * Returns 0, or -errno (-ESTALE: the content changed since); why says what
 * was done or why not, in one line.
 */
int dise_restore_in_place(const char *path, const char *expect_sha, const char *from, char *why, size_t size);

#endif
