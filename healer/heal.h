/* SPDX-License-Identifier: MIT */
/* The healing cycle, on the store: prune, taint, rule, ancestor, route; every step journaled. */
#ifndef DISE_HEAL_H
#define DISE_HEAL_H

#include <stdint.h>

#include "config.h"
#include "store.h"

/*
 * Runs the healing cycle for every queued heal request, each in one
 * transaction. A tool whose policy in cfg (may be NULL) is on_failure
 * "freeze" is marked failed and its rule learned, but nothing is pruned,
 * tainted or routed (request state 'frozen'). Returns the number of
 * requests handled, or -errno. Then dise_heal_check_rules() (not in here:
 * the routes are published first, replays may take long).
 *
 * A request routed to an ancestor is then healed forward when the tool's
 * policy has "regenerate" (regen.h), outside any transaction.
 */
int dise_heal_pending(dise_store *st, const struct dise_config *cfg);

/*
 * Propagates every rule to the versions it covers by its scope (descendants
 * of its source, all_similar: every version of its tool, global: of every
 * tool), new versions included, once per (rule, version), recorded in
 * rule_checks. When the tool's policy allows replay, the rule's failing
 * invocation is replayed against each covered version of its tool; a
 * version that fails the same way gets a failure (detector 'rule') and is
 * marked failed, never routed to (a route that led to it is picked again).
 * Then a covered version seen failing the way a rule describes (its crash
 * signature; its exit status for its argv) is queued for healing at once,
 * without waiting for three strikes. Returns the number of versions refused
 * or queued, or -errno.
 */
int dise_heal_check_rules(dise_store *st, const struct dise_config *cfg);

/* Queues a heal request for version_id by hand (`dise heal`) and runs the cycle. Returns 0 or -errno. */
int dise_heal_now(dise_store *st, const struct dise_config *cfg, int64_t version_id);

/*
 * `dise reset`: the version healthy again, its strikes cleared (detectors
 * count only runs after now), what it tainted healthy again, its heal
 * requests closed, the tool's route dropped; journaled with who and why.
 * Returns 0 or -errno.
 */
int dise_heal_reset(dise_store *st, int64_t version_id, const char *who, const char *why);

#endif
