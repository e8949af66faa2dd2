/* SPDX-License-Identifier: MIT */
/*
 * Healing forward (regen.c): from the healthy ancestor of a pruned version,
 * a regenerated version that keeps what the pruned one added and passed, in
 * the sandbox, the tool's test command, the replay of every rule of the
 * tool and the ratchet. Strategy revert-hunks: the diff from the ancestor
 * to the pruned version cut into hunks; Zeller's ddmin finds a smallest set
 * of hunks whose revert passes, within a budget of candidates and time.
 * Every attempt is a mutation (store-regen.h) and journal rows.
 */
#ifndef DISE_REGEN_H
#define DISE_REGEN_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

/*
 * After request routed pruned's tool to a healthy ancestor: an attempt when
 * the tool's policy has "regenerate" (else nothing). Runs outside any
 * transaction. Returns 0 (the outcome is journaled), or -errno (store).
 */
int dise_regen_after_heal(dise_store *st, const struct dise_config *cfg, int64_t request, int64_t pruned);

/*
 * `dise regenerate`: an attempt for pruned (a pruned version of tool) from
 * the tool's route target, else its last healthy ancestor; the defaults
 * when the tool's policy has no "regenerate". The outcome in why, one line.
 * Returns 1 when a version was routed or proposed, 0 when not, or -errno.
 */
int dise_regenerate(dise_store *st, const struct dise_config *cfg, const char *tool, int64_t pruned, char *why,
		    size_t size);

/*
 * `dise approve ID`: the proposal becomes a regenerated version, routed to
 * (through a canary rollout when cfg's policy of the tool has one). 0,
 * -ENOENT (no such proposal), -errno.
 */
int dise_regen_approve(dise_store *st, const struct dise_config *cfg, int64_t id, const char *who, char *why,
		       size_t size);
/* `dise reject ID --why W`: the proposal refused; its diff is never proposed again. 0, -ENOENT, -errno. */
int dise_regen_reject(dise_store *st, int64_t id, const char *who, const char *reason);

#endif
