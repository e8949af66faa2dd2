/* SPDX-License-Identifier: MIT */
/* What regen.c (the search) and regen-commit.c (its outcome, proposals) share: one attempt's state. */
#ifndef DISE_REGEN_INTERNAL_H
#define DISE_REGEN_INTERNAL_H

#include <limits.h>
#include <stdint.h>

#include "heal-internal.h"
#include "regen-diff.h"
#include "store-regen.h"

struct rg_probe {
	uint64_t mask;
	int ok;
};

struct rg_src; /* regen-source.c: a compiled tool's source trees */

struct rg {
	struct dise__ctx c; /* c.version: the pruned version */
	struct rg_src *src; /* NULL: a #! script, its own source */
	const struct dise_tool_policy *p;
	struct dise_regen_policy pol;
	int64_t pruned, ancestor, t0, deadline_ns;
	char scratch[PATH_MAX], cand[PATH_MAX + 300], cas[PATH_MAX + 8], name[256];
	char *atext, *ptext; /* A's and P's source */
	size_t alen, plen;
	struct dise_lines la, lp;
	struct dise_hunk *h;
	size_t nh;
	struct dise_replay *rules;
	size_t nrules;
	struct rg_probe cache[512];
	size_t ncache;
	int tried;
	char fail[512]; /* why the last failing candidate failed */
	/* the outcome */
	const char *verdict; /* DISE_MUT_* */
	uint64_t revert;
	char *text, *diff; /* the candidate, and the diff A -> it */
	size_t len;
	char diff_sha[65];
	double fitness, base, best;
	struct dise_ratchet ratchet;
	char why[1024], validation[768];
	/* strategies llm and command (regen-tries.c) */
	const char *strategy, *model; /* for the mutation; model: strategy llm's */
	char prompt_sha[65];
	int64_t tokens;
	int tries; /* candidates the strategy made */
	double confidence; /* < 0: not measured */
};

/* The checks on the candidate at g->cand in the sandbox: 1 all passed, 0 one failed (why in g->fail), -errno. */
int dise__regen_checks(struct rg *g, int64_t *wall_ns);
/* sha256 of s as hex. 0 or -ENOMEM. */
int dise__regen_sha(const char *s, size_t len, char hex[65]);

/*
 * Strategies llm and command (regen-tries.c): up to max_attempts
 * candidates, each from P's text in the scratch tree, validated by the
 * checks; one that fails is a mutation of its own (verdict failed, with its
 * diff: never proposed twice) the next try's context holds. 1: g->text,
 * g->len, g->diff, g->diff_sha hold the one that passed; 0: none did
 * (g->verdict, g->why); -errno.
 */
int dise__regen_forward(struct rg *g);

/* path's bytes (a regular file, not followed if a symlink, at most 4 MiB) into *text (to free). 0 or -errno. */
int dise__regen_read(const char *path, char **text, size_t *len);
/*
 * The fitness of the candidate text against A (regen-fitness.c) into
 * g->fitness and g->base, with what was measured in note; more rounds while
 * it is below threshold. 0 or -errno.
 */
int dise__regen_measure(struct rg *g, const char *text, size_t len, double threshold, char *note, size_t size);
/* The file at path, at most max bytes, into *text (NUL-ended, to free), *len. 0, -E2BIG, or -errno. */
int dise__regen_read_max(const char *path, size_t max, char **text, size_t *len);

/* text written as the candidate, executable, at g->cand. 0 or -errno. */
int dise__regen_write(struct rg *g, const char *text, size_t len);

/*
 * A compiled tool (regen-source.c): its "source", both versions' revisions
 * and the hunks of the diff between them into g (g->nh, g->src). 1 ready, 0
 * rollback only or nothing to keep (g->why), -errno.
 */
int dise__regen_source_prepare(struct rg *g);
/*
 * The candidate with the hunks of mask reverted, built in the sandbox: its
 * artifact's bytes into *text, *len (to free); with diff, the unified diff
 * from A's tree to it (to free). 1 built, 0 it fails (g->fail: the build
 * failed, timed out, or left no artifact), -errno.
 */
int dise__regen_source_candidate(struct rg *g, uint64_t mask, char **text, size_t *len, char **diff);
void dise__regen_source_free(struct rg *g);

/*
 * Records g's outcome: the mutation, the journal row, the ratchet (a
 * rejection counts, a lock after lock_after of them; an acceptance resets
 * them and raises the best), and for an accepted candidate its version
 * (parents A and P) routed to, or its proposal; one transaction.
 * Returns 1 when routed or proposed, 0 otherwise, or -errno.
 */
int dise__regen_conclude(struct rg *g);

#endif
