/* SPDX-License-Identifier: MIT */
/*
 * The regeneration's statements (store-regen.c): mutations (one per attempt
 * to heal a pruned version forward, accepted or not) and the ratchet per
 * tool. All return 0 (lookups: 1 with a row, 0 without) or -errno.
 */
#ifndef DISE_STORE_REGEN_H
#define DISE_STORE_REGEN_H

#include <stdint.h>

#include "store.h"

/* What a mutation's verdict can be. */
#define DISE_MUT_ROUTED "routed"     /* a regenerated version, routed to */
#define DISE_MUT_PROPOSED "proposed" /* passed; waits for `dise approve` (mode suggest/ask) */
#define DISE_MUT_APPROVED "approved" /* proposed, then routed by an operator */
#define DISE_MUT_REFUSED "refused"   /* proposed, then refused by an operator (`dise reject`) */
#define DISE_MUT_FAILED "failed"     /* no candidate passed validation */
#define DISE_MUT_RATCHET "ratchet"   /* passed validation, below the ratchet */
#define DISE_MUT_LOCKED "locked"     /* not tried: the ratchet's lock holds */
#define DISE_MUT_SKIPPED "skipped"   /* not tried: nothing to regenerate from (no source, no diff) */

struct dise_mutation {
	int64_t id, pruned, ancestor, version; /* version: the regenerated one, 0: none */
	const char *tool, *strategy, *verdict, *reason, *diff, *diff_sha256, *validation;
	const char *cas_path; /* the candidate's content-addressed copy (NULL: none) */
	int hunks, reverted, candidates;
	double fitness, baseline; /* < 0: not measured */
	int64_t duration_ns, wall_ns;
	/* strategy llm: the model, the sha256 of the prompt sent, the tokens the endpoint said it used (0: none) */
	const char *model, *prompt_sha256;
	int64_t tokens;
	double confidence; /* from the validation, in [0, 1]; < 0: none */
};

int dise_store_mutation_add(dise_store *st, const struct dise_mutation *m, int64_t *ret_id);
/* A mutation's verdict (and version, 0: unchanged) changed, with why appended to its reason. */
int dise_store_mutation_verdict(dise_store *st, int64_t id, const char *verdict, int64_t version, const char *why);
/* A proposal (verdict proposed): its tool, versions, diff and candidate's copy (free with dise_proposal_free). */
struct dise_proposal {
	int64_t id, pruned, ancestor;
	char tool[4096];
	char sha256[80]; /* of the diff */
	char *diff, *cas_path;
};
void dise_proposal_free(struct dise_proposal *p);
int dise_store_proposal_get(dise_store *st, int64_t id, struct dise_proposal *ret);
/* 1 when an operator refused a mutation of tool with diff_sha256 already (dise reject), else 0. */
int dise_store_mutation_refused(dise_store *st, const char *tool, const char *diff_sha256);

/* 1 when a mutation of tool with diff_sha256 failed, fell below the ratchet or was refused: never tried twice. */
int dise_store_mutation_tried(dise_store *st, const char *tool, const char *diff_sha256);
/* An earlier attempt that did not make it, for the next attempt's context. */
struct dise_earlier {
	char verdict[16];
	char *reason, *diff;
};
/* The latest max of them for tool, newest first: how many, or -errno. Free with dise_earlier_free. */
int dise_store_mutations_earlier(dise_store *st, const char *tool, struct dise_earlier *ret, int max);
void dise_earlier_free(struct dise_earlier *e, int n);

/* The latest mutation of pruned routed, proposed or approved into *ret_id: 1, 0 (none), -errno. */
int dise_store_mutation_accepted(dise_store *st, int64_t pruned, int64_t *ret_id);
/* The path version was first seen at into buf: 1, 0 (none), -errno. */
int dise_store_version_path(dise_store *st, int64_t version, char *buf, size_t size);
/* The source revision of version (v19) into buf: 1, 0 (none known), -errno. */
int dise_store_version_rev(dise_store *st, int64_t version, char *buf, size_t size);
/* Records rev as version's source revision; origin "cli" (tool add --rev) or "rev_command". 0 or -errno. */
int dise_store_version_rev_set(dise_store *st, int64_t version, const char *rev, const char *origin, int64_t now_ns);

struct dise_ratchet {
	double best;		/* best fitness ever accepted, 0: none yet */
	int rejections;		/* consecutive */
	int64_t locked_until_ns; /* CLOCK_REALTIME; 0: not locked */
};
/* tool's ratchet (all zero when it has none). */
int dise_store_ratchet_get(dise_store *st, const char *tool, struct dise_ratchet *ret);
int dise_store_ratchet_set(dise_store *st, const char *tool, const struct dise_ratchet *r);

#endif
