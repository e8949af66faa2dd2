/* SPDX-License-Identifier: MIT */
/* Helpers of the route tests (route-util.c). */
#ifndef DISE_TEST_ROUTE_UTIL_H
#define DISE_TEST_ROUTE_UTIL_H

#include <stddef.h>

#include "dise/ring.h"
#include "harness.h"

/* system(printf(fmt, ...)), failing the test unless it exits 0 */
void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* text at path with mode, as a deploy does: a new inode renamed into place */
void write_file(const char *path, int mode, const char *text);
void file_id_of(const char *path, struct dise_file_id *id);
/* A route entry's target: its identity and ctime, as the collector publishes them */
void target_of(const char *path, struct dise_route_in *e);
/* `dise tool add tool --version label path [--parent parent]` */
void tool_add(struct fixture *f, const char *tool, const char *label, const char *path, const char *parent);
/* Runs argv under the shim with f's ring and home. */
void watched(struct fixture *f, char *const argv[], struct run_result *r);
/* `dise heal tool [--version label]` */
void heal(struct fixture *f, const char *tool, const char *label);
/* v1 at path, then v2_text replaces it, runs once (argv), is healed by hand and the routes published. */
void deploy_and_heal(struct fixture *f, const char *tool, const char *path, const char *v2_text, int mode,
		     char *const argv[]);
/* "<ring>.routes" (free it) */
char *routes_file(struct fixture *f);
/* Is identity id routed in f's route file? The target into out. */
int routed(struct fixture *f, const struct dise_file_id *id, char *out, size_t size);
/* The route of the file now at path: -1 none, else its canary percent (0: every run to the target). */
int route_pct_of(struct fixture *f, const char *path);
/* argv run under the shim: its stdout (to free, "" when none); its wait status into *status when not NULL */
char *watched_out(struct fixture *f, char *const argv[], int *status);
/* argv run n times under the shim, each printing exactly want */
void assert_prints(struct fixture *f, char *const argv[], int n, const char *want);
/* The regeneration tests' v1: a #! script with greet and version (test-regen.c, test-canary-regen.c) */
extern const char regen_v1_text[];
/* Skips the test, with the reason, when bubblewrap cannot make a sandbox here. */
void need_sandbox(void);
/* Every regeneration attempt (dise proposals --all), said for a failing test's log. */
void show_mutations(struct fixture *f);

#endif
