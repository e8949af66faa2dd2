/* SPDX-License-Identifier: MIT */
/*
 * Strategies llm and command (regen-internal.h): each try starts from P's
 * text in the scratch tree; llm asks the endpoint for a diff (regen-llm.c)
 * and applies it in memory to that one file (regen-patch.c), command lets
 * the program edit the tree in the sandbox (regen-command.c). A candidate
 * whose diff from A was tried before and failed or was refused is not
 * tried again; one that is A itself keeps nothing; any other is validated
 * by the checks in the sandbox. A try that does not pass is a mutation
 * (verdict failed, its diff, why) and a journal line `regenerate_try
 * rejected`, which the next try's context tells.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regen-llm.h"
#include "regen-patch.h"
#include "regen-prompt.h"
#include "regen-tries.h"

#define MAX_RECORDED_DIFF 65536 /* bytes of a refused answer's diff kept in its mutation */

struct try {
	char *text, *diff; /* the candidate; the diff A -> it (or the answer's, when it made none) */
	size_t len;
	char sha[65], psha[65];
	int64_t tokens;
	char why[1024];
};

static void try_free(struct try *t)
{
	free(t->text);
	free(t->diff);
}

/* A failed try as a mutation and a journal line, in a transaction. 0 or -errno. */
static int record_try(struct rg *g, struct try *t)
{
	struct dise_mutation m = { 0, g->pruned, g->ancestor, 0, g->c.tool, g->strategy, DISE_MUT_FAILED, t->why, t->diff,
				   t->sha[0] ? t->sha : NULL, NULL, NULL, 0, 0, 1, -1, -1,
				   dise__now_ns(CLOCK_MONOTONIC) - g->t0, dise__now_ns(CLOCK_REALTIME), g->model,
				   t->psha[0] ? t->psha : NULL, t->tokens, -1 };
	char detail[1200];
	int r = dise_store_begin(g->c.st);

	if (r == 0)
		r = dise_store_mutation_add(g->c.st, &m, &m.id);
	snprintf(detail, sizeof(detail), "mutation %lld (%s): %s", (long long)m.id, g->strategy, t->why);
	if (r == 0)
		r = dise__journal(&g->c, "regenerate_try", "rejected", detail);
	if (r == 0)
		r = dise_store_commit(g->c.st);
	else
		dise_store_rollback(g->c.st);
	return r;
}

/* The answer's diff (in t->diff) made a candidate: 1 (t->text), 0 refused or tried before (t->why), -errno. */
static int apply_answer(struct rg *g, struct try *t)
{
	size_t n = strlen(t->diff);
	int r = dise__regen_sha(t->diff, n, t->sha);

	if (r == 0)
		r = dise_store_mutation_tried(g->c.st, g->c.tool, t->sha);
	if (r > 0)
		snprintf(t->why, sizeof(t->why), "the same diff as an earlier attempt that failed or was refused: not tried "
						  "again");
	if (r == 0) {
		r = dise_patch_apply(g->ptext, g->plen, t->diff, n, g->name, &t->text, &t->len, t->why, sizeof(t->why));
		r = r == 0 ? 1 : r == -ENOMEM ? r : 0; /* refused: a failed try, its why said */
	} else if (r > 0) {
		r = 0;
	}
	if (n > MAX_RECORDED_DIFF)
		t->diff[MAX_RECORDED_DIFF] = '\0';
	return r;
}

/* Strategy llm's candidate: 1 made (t->text), 0 not (t->why, t->diff: the answer's), -errno. */
static int from_llm(struct rg *g, const json_t *ctx, struct try *t)
{
	json_t *msgs = dise__regen_messages(ctx);
	char *dump = msgs ? json_dumps(msgs, JSON_COMPACT) : NULL, *answer = NULL;
	int r = dump ? dise__regen_sha(dump, strlen(dump), t->psha) : -ENOMEM;

	if (r == 0)
		r = dise_llm_ask(&g->pol, msgs, &answer, &t->tokens, t->why, sizeof(t->why));
	if (r == 0)
		r = (t->diff = dise_patch_extract(answer)) ? apply_answer(g, t) : -ENOMEM;
	else if (r != -ENOMEM)
		r = 0; /* the endpoint's failure: a failed try, said */
	json_decref(msgs);
	free(dump);
	free(answer);
	return r;
}

/* t->diff: the unified diff A -> t->text (the answer's kept when A -> it has too many hunks). 0 or -errno. */
static int diff_from_ancestor(struct rg *g, struct try *t)
{
	struct dise_lines lc = { 0 };
	struct dise_hunk *h = NULL;
	char *u = NULL, *same;
	size_t n = 0, len;
	int r = dise_lines_split(t->text, t->len, &lc);

	if (r == 0)
		r = dise_diff_hunks(&g->la, &lc, &h, &n);
	if (r == 0) {
		same = dise_diff_apply(&g->la, &lc, h, n, 0, &len, g->name, &u);
		free(same);
		if (!u)
			r = -ENOMEM;
	}
	dise_lines_free(&lc);
	free(h);
	if (r == -E2BIG)
		return t->diff ? 0 : -E2BIG;
	if (r < 0)
		return r;
	free(t->diff);
	t->diff = u;
	return dise__regen_sha(u, strlen(u), t->sha);
}

/* One try: 1 a candidate passed (in t), 0 not (t->why), -errno. */
static int one_try(struct rg *g, struct try *t)
{
	json_t *ctx = dise__regen_context(g, g->pol.strategy == DISE_REGEN_COMMAND);
	int64_t wall = 0;
	int r;

	if (!ctx)
		return -ENOMEM;
	r = dise__regen_write(g, g->ptext, g->plen); /* the tree as P */
	if (r == 0)
		r = g->pol.strategy == DISE_REGEN_LLM
			    ? from_llm(g, ctx, t)
			    : dise__regen_command(g, ctx, &t->text, &t->len, t->why, sizeof(t->why));
	json_decref(ctx);
	if (r <= 0)
		return r;
	if ((r = diff_from_ancestor(g, t)) < 0)
		return r == -E2BIG ? (snprintf(t->why, sizeof(t->why), "the candidate's diff is too large"), 0) : r;
	if (t->len == g->alen && !memcmp(t->text, g->atext, t->len)) {
		snprintf(t->why, sizeof(t->why), "the candidate is the ancestor: nothing of the pruned version kept");
		return 0;
	}
	if ((r = dise_store_mutation_tried(g->c.st, g->c.tool, t->sha)) != 0) {
		snprintf(t->why, sizeof(t->why), "the same diff as an earlier attempt that failed or was refused: not "
						  "tried again");
		return r < 0 ? r : 0;
	}
	if ((r = dise__regen_write(g, t->text, t->len)) < 0 || (r = dise__regen_checks(g, &wall)) < 0)
		return r;
	if (r == 0)
		snprintf(t->why, sizeof(t->why), "did not pass validation in the sandbox: %s", g->fail);
	return r;
}

int dise__regen_forward(struct rg *g)
{
	int k, r = 0, answered = 0;
	char last[1024] = "";

	g->tokens = 0;
	for (k = 0; k < g->pol.max_attempts; k++) {
		struct try t = { 0 };

		if (k && dise__now_ns(CLOCK_MONOTONIC) >= g->deadline_ns) {
			snprintf(last, sizeof(last), "out of budget_seconds after %d tries", k);
			break;
		}
		r = one_try(g, &t);
		g->tried++;
		g->tries = k + 1;
		g->tokens += t.tokens;
		answered += t.text || t.diff;
		if (r == 1) {
			g->text = t.text, g->len = t.len, g->diff = t.diff;
			memcpy(g->diff_sha, t.sha, sizeof(g->diff_sha));
			memcpy(g->prompt_sha, t.psha, sizeof(g->prompt_sha));
			return 1;
		}
		if (r == 0)
			r = record_try(g, &t);
		snprintf(last, sizeof(last), "%s", t.why);
		try_free(&t);
		if (r < 0)
			return r;
	}
	/* no answer at all (an endpoint down, a command that made nothing): nothing was rejected */
	g->verdict = answered ? DISE_MUT_FAILED : DISE_MUT_SKIPPED;
	snprintf(g->why, sizeof(g->why), "no candidate of %d tr%s passed (the last: %s)", k, k == 1 ? "y" : "ies", last);
	return 0;
}
