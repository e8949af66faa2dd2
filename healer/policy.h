/* SPDX-License-Identifier: MIT */
/* The healer's pure decisions: no database, no files, unit-tested in tests/test-healer.c. */
#ifndef DISE_HEAL_POLICY_H
#define DISE_HEAL_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "names.h" /* enum dise_health, dise_health_name() */

struct dise_dag_node {
	int64_t id;
	enum dise_health health;
	const int64_t *parents; /* ids, in the order they were given (the first is the main line) */
	size_t nparents;
};

struct dise_dag {
	const struct dise_dag_node *nodes;
	size_t n;
};

/* The health named s into *ret: 0, or -1 for a name names.h does not know. */
int dise_health_parse(const char *s, enum dise_health *ret);

/*
 * The last healthy ancestor of `broken`: a breadth-first walk up the parents
 * (merges: every parent, in order), nearest first, skipping versions that
 * are not healthy and going on through them, and through the nrejected
 * ids in rejected (candidates that failed validation). Returns its id, or 0
 * when there is none.
 */
int64_t dise_heal_pick_ancestor(const struct dise_dag *g, int64_t broken, const int64_t *rejected, size_t nrejected);

/*
 * The descendants of `pruned` (children, their children, ...), each once,
 * into out (room for g->n). Returns how many.
 */
size_t dise_heal_descendants(const struct dise_dag *g, int64_t pruned, int64_t *out);

#endif
