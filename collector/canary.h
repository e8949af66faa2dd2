/* SPDX-License-Identifier: MIT */
/*
 * Canary rollouts (collector/canary.c; SQL in store-canary.c): a new
 * content of a tool earns its share of runs step by step, and loses it on
 * the first evidence that it is worse than the version that ran before.
 */
#ifndef DISE_CANARY_H
#define DISE_CANARY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

struct dise_canary {
	int64_t id, stable, canary; /* versions */
	char *tool, *stable_label, *canary_label;
	int step, weight;	     /* index into the policy's steps; percent of runs on the canary */
	char state[16];		     /* running, promoted, aborted, superseded */
	int64_t started_wall_ns, step_wall_ns, ended_wall_ns;
	char *verdict;		     /* the evidence of the last decision; NULL while none */
	int regenerated;	     /* the canary is a regenerated version, rolled out over the tool's route */
};

/* One arm's runs (ended, not an exec) at a step: how many, how many failed, the median wall time. */
struct dise_arm_stats {
	int64_t runs, failures, median_ns;
};

/* ---- store-canary.c ---- */

/* A transaction unless one is open already: 1 began, 0 within the caller's, or -errno. */
int dise_store_tx_open(dise_store *st);
/* Ends what dise_store_tx_open began (commit when r >= 0, else roll back); r, or the commit's -errno. */
int dise_store_tx_close(dise_store *st, int began, int r);

/* Starts a rollout of tool (stable, canary at weight): 1, 0 when one already runs for tool, or -errno. */
int dise_store_canary_start(dise_store *st, const char *tool, int64_t stable, int64_t canary, int weight,
			    int64_t wall_ns);
/* The rollouts (all, or the running ones), newest first; free with dise_canaries_free. */
int dise_store_canaries(dise_store *st, int running_only, struct dise_canary **ret, size_t *ret_n);
void dise_canaries_free(struct dise_canary *c, size_t n);
void dise_canary_clear(struct dise_canary *c); /* frees one rollout's strings */
/* The running rollout of tool into *ret (free its strings with dise_canary_clear): 1, 0, or -errno. */
int dise_store_canary_of(dise_store *st, const char *tool, struct dise_canary *ret);
/* The stats of version's runs started since since_wall_ns. */
int dise_store_arm_stats(dise_store *st, int64_t version, int64_t since_wall_ns, struct dise_arm_stats *ret);
/*
 * A crash of canary since since_wall_ns that the process raised itself and
 * whose signature (build and symbolic) no crash of stable ever had (one
 * without a signature: whose signal no signature-less crash of stable
 * had): 1 with its run and signature, 0 when none, or -errno.
 */
int dise_store_canary_new_crash(dise_store *st, int64_t canary, int64_t stable, int64_t since_wall_ns, int64_t *ret_run,
				char *sig, size_t sigsize);
/* Sets a rollout's step, weight and state (ending it unless "running"), with its verdict. */
int dise_store_canary_set(dise_store *st, int64_t id, int step, int weight, const char *state, const char *verdict,
			  int64_t wall_ns);
/* The health of version ("" when there is none) into health, and whether the store holds its copy. */
int dise_store_version_state(dise_store *st, int64_t version, char *health, size_t size, int *ret_stored);
/* A value that changes whenever a running rollout's weight or its canary's file identities change. */
int dise_store_canary_fingerprint(dise_store *st, int64_t *ret);
/*
 * The weighted routes: each file identity that ran as the canary of a
 * running rollout, routed to its stable version with canary_pct = the
 * rollout's weight, and those of a rollout aborted by hand to the stable
 * version (canary_pct 0). A canary that is pruned is not here: its plain
 * route is. Same rows as dise_store_pruned_routes; free with dise_pruned_routes_free.
 */
int dise_store_canary_routes(dise_store *st, struct dise_pruned_route **ret, size_t *ret_n);

/* ---- canary.c ---- */

/*
 * A new version canary of tool appeared at the path whose version was
 * stable: starts the rollout at the first step when tool's policy says
 * "on_deploy" and stable is healthy with a stored copy (journaled, with
 * the reason when it does not). A rollout of tool still running is
 * superseded (ended, nothing pruned). Returns 1 when started, 0, or -errno.
 */
int dise_canary_on_deploy(dise_store *st, const struct dise_config *cfg, const char *tool, int64_t stable,
			  int64_t canary, int64_t wall_ns);

/*
 * Looks at every running rollout: aborts (weight 0, a heal request that
 * prunes the canary as the three strikes would, journaled with the
 * evidence) on a crash whose signature the stable never had, or when the
 * canary was pruned or marked failed meanwhile; promotes to the next step
 * when the analysis allows (only with analyse: it counts the runs at the
 * step, the aborts' evidence does not). Returns how many rollouts changed,
 * or -errno. The caller runs dise_heal_pending() and publishes the routes
 * when > 0.
 */
int dise_canary_pass(dise_store *st, const struct dise_config *cfg, int64_t wall_ns, int analyse);

/* The verdict so far of c into buf (an ended one's: its last); 1 when its next step is due, 0, or -errno. */
int dise_canary_verdict(dise_store *st, const struct dise_config *cfg, const struct dise_canary *c, int64_t wall_ns,
			char *buf, size_t size);

/*
 * The file at path is now version, where the path's last version ran
 * before: when that was the canary of tool's running rollout, the canary
 * left the path (a rollback by hand to the stable, or a third content), so
 * the rollout ends (state superseded, weight 0, journaled with why: the
 * rollback is said "abandoned"). A new content's own rollout is
 * dise_canary_on_deploy's. Call before the path's head moves. 1 ended, 0,
 * or -errno.
 */
int dise_canary_path_moved(dise_store *st, const char *tool, const char *path, int64_t version, int64_t wall_ns);

/*
 * A regenerated version canary of tool (healer/regen-commit.c) in place of
 * routing to it directly: when policy p says on_regenerate and the route
 * runs stable (the healthy ancestor, with a stored copy), a rollout starts
 * over the route at the first step (the runs of every pruned version of
 * tool split between stable and canary); promoted to 100% the canary is
 * the tool's route, aborted it is pruned. 1 started, 0 when the caller
 * routes directly (journaled why when a canary was asked for), or -errno.
 */
int dise_canary_regenerated(dise_store *st, const struct dise_canary_policy *p, const char *tool, int64_t stable,
			     int64_t canary, int64_t wall_ns);

/* `dise canary promote|abort TOOL`: by hand, journaled with who. 1 done, 0 no rollout of tool runs, or -errno. */
int dise_canary_promote(dise_store *st, const struct dise_config *cfg, const char *tool, const char *who,
			int64_t wall_ns);
int dise_canary_abort(dise_store *st, const char *tool, const char *who, int64_t wall_ns);

#endif
