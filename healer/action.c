/* SPDX-License-Identifier: MIT */
/*
 * The healing cycle's side effects (decisions are in policy.c). For one
 * queued heal request of version V of tool T, in one transaction:
 *   1. V: failed, then pruned (kept, never deleted);
 *   2. every healthy descendant of V: degraded, tainted_by V;
 *   3. an avoidance rule from the failure: a readable description, the crash
 *      signature or exit status, the failing invocation, the reason, V, the
 *      scope (the tool's policy: descendants by default, all_similar, global);
 *   4. the last healthy ancestor of V (policy.c), and the route T -> it; or,
 *      when there is none, no route and the request left `no_ancestor`;
 * each step a row in the journal with its duration and result.
 *
 * When T's policy validates candidates (a test command, or replay), step 4
 * is not in that transaction: the request is left 'validating', candidates
 * are tried nearest first outside any transaction (a test may take a
 * minute, ingest must go on), each verdict journaled, and the route is
 * written in a second transaction. A collector stopped in between resumes
 * 'validating' requests at step 4. A policy of "freeze" stops after the
 * rule: V failed, nothing pruned, tainted or routed (state 'frozen'). A
 * policy of "restore" leaves the routed request 'restoring': the files are
 * written back after the commit, outside any transaction, then 'done'.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heal-internal.h"
#include "regen.h"
#include "validate.h"

int64_t dise__now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int dise__journal(struct dise__ctx *c, const char *step, const char *result, const char *detail)
{
	int64_t t = dise__now_ns(CLOCK_MONOTONIC);
	int r = dise_store_journal_add(c->st, c->request, c->tool, c->version, step, result, detail, dise__now_ns(CLOCK_REALTIME),
				       t - c->t0);

	c->t0 = t;
	return r;
}

void dise__dag_free(struct dise__dag *d)
{
	free(d->nodes);
	free(d->parents);
	memset(d, 0, sizeof(*d));
}

int dise__dag_load(dise_store *st, const char *tool, struct dise__dag *d)
{
	struct dise_store_node *v;
	struct dise_store_edge *e;
	size_t n, ne, i, k;
	int r;

	memset(d, 0, sizeof(*d));
	r = dise_store_tool_dag(st, tool, &v, &n, &e, &ne);
	if (r < 0)
		return r;
	d->nodes = calloc(n + 1, sizeof(*d->nodes));
	d->parents = calloc(ne + 1, sizeof(*d->parents));
	if (!d->nodes || !d->parents) {
		free(v);
		free(e);
		dise__dag_free(d);
		return -ENOMEM;
	}
	for (k = 0; k < n; k++) {
		d->nodes[k].id = v[k].id;
		d->nodes[k].health = v[k].health;
	}
	for (i = 0; i < ne; i++) { /* edges are grouped by version: point each node at its run of parents */
		d->parents[i] = e[i].parent;
		for (k = 0; k < n; k++)
			if (d->nodes[k].id == e[i].version) {
				if (!d->nodes[k].nparents)
					d->nodes[k].parents = &d->parents[i];
				d->nodes[k].nparents++;
			}
	}
	free(v);
	free(e);
	d->g.nodes = d->nodes;
	d->g.n = n;
	return 0;
}

int dise__ctx_tool(struct dise__ctx *c)
{
	int r = dise_store_version_tool(c->st, c->version, c->tool, sizeof(c->tool));

	return r < 0 ? r : 0;
}

/*
 * The tool's policy freezes: the version is marked failed (detectors stop
 * counting it) and the rule is learned, but nothing is pruned, tainted or
 * routed: the failure stays visible in `dise health` for an operator.
 */
static int freeze_one(struct dise__ctx *c, const char *reason, const struct dise_tool_policy *p, int known)
{
	int r = dise_store_version_set_health(c->st, c->version, DISE_FAILED);

	if (r == 0)
		r = dise__journal(c, "mark_failed", "ok", NULL);
	if (r == 0)
		r = dise__learn_rule(c, reason, p, known);
	if (r == 0)
		r = dise__journal(c, "freeze", "ok", "policy on_failure=freeze: nothing pruned, tainted or routed");
	if (r == 0)
		r = dise_store_heal_set_state(c->st, c->request, DISE_HEAL_FROZEN);
	return r;
}

/* Whether tool policy p (may be NULL) validates candidates before routing. */
static int validates(const struct dise_tool_policy *p)
{
	return p && (p->test_command || p->replay);
}

/*
 * Restore in place (policy "restore"): every path that held the pruned
 * version gets the ancestor's content back, if it still holds the pruned
 * one. Each outcome journaled; a failure leaves the route in effect.
 */
static int restore_paths(struct dise__ctx *c, int64_t ancestor)
{
	struct dise_restore_target *t = NULL;
	size_t n = 0, i;
	int r = dise_store_restore_targets(c->st, c->version, ancestor, &t, &n);

	/* read whole first: files are copied with no statement open */
	for (i = 0; r == 0 && i < n; i++) {
		char why[9000];
		int k = dise_restore_in_place(t[i].path, t[i].sha256, t[i].from, why, sizeof(why));

		r = dise__journal(c, "restore", k == 0 ? "ok" : "failed", why);
	}
	dise_restore_targets_free(t, n);
	return r;
}

/* 4. the last healthy ancestor not in rejected, and the route T -> it; or none */
static int route_step(struct dise__ctx *c, const int64_t *rejected, size_t nrejected, const char *validated, int restore)
{
	struct dise__dag d;
	char detail[PATH_MAX + 128];
	int64_t ancestor;
	int r = dise__dag_load(c->st, c->tool, &d);

	if (r < 0)
		return r;
	ancestor = dise_heal_pick_ancestor(&d.g, c->version, rejected, nrejected);
	dise__dag_free(&d);
	if (ancestor) {
		r = dise_store_route_set(c->st, c->tool, ancestor, dise__now_ns(CLOCK_REALTIME));
		snprintf(detail, sizeof(detail), "%s -> v%lld (%s)", c->tool, (long long)ancestor, validated);
		if (r == 0)
			r = dise__journal(c, "route", "ok", detail);
		/* restoring copies files: after this transaction (finish_restoring), not holding the write lock */
		if (r == 0)
			r = dise_store_heal_set_state(c->st, c->request, restore ? DISE_HEAL_RESTORING : DISE_HEAL_DONE);
	} else {
		/*
		 * Nowhere better to go: the route in effect stays (dropping it would
		 * run a version pruned before), and this version, which runs at its
		 * path anyway, is failing rather than pruned: frozen and alerted.
		 */
		r = dise_store_version_set_health(c->st, c->version, DISE_FAILING);
		snprintf(detail, sizeof(detail), "no healthy ancestor%s: nothing to route to; marked failing, route kept",
			 nrejected ? " passed validation" : "");
		if (r == 0)
			r = dise__journal(c, "route", "no_ancestor", detail);
		if (r == 0)
			r = dise_store_heal_set_state(c->st, c->request, DISE_HEAL_NO_ANCESTOR);
	}
	return r;
}

/*
 * Validates candidates nearest first, outside any transaction (a test may
 * take a minute; ingest goes on meanwhile), each verdict journaled. Fills
 * rejected (room for max) with the candidates that failed. Returns how many,
 * or -errno.
 */
static int validate_candidates(struct dise__ctx *c, const struct dise_tool_policy *p, int64_t *rejected, size_t max)
{
	size_t n = 0;

	while (n < max) {
		char why[1024] = "", cand[64];
		char *copy;
		int64_t a;
		struct dise__dag d;
		int r = dise__dag_load(c->st, c->tool, &d), bad = 0;

		if (r < 0)
			return r;
		a = dise_heal_pick_ancestor(&d.g, c->version, rejected, n);
		dise__dag_free(&d);
		if (!a)
			break;
		if ((r = dise_store_version_copy(c->st, a, &copy)) < 0) /* busy: not a verdict on the candidate */
			return r;
		snprintf(cand, sizeof(cand), "v%lld: ", (long long)a);
		if (!copy) {
			snprintf(why, sizeof(why), "%sno copy of it to run", cand);
			bad = 1;
		}
		if (!bad && p->test_command) {
			r = dise_validate_test(p, copy, why + strlen(cand), sizeof(why) - strlen(cand));
			memcpy(why, cand, strlen(cand));
			bad = r != 0;
			if (r < 0)
				snprintf(why, sizeof(why), "%stest command could not run: %s", cand, strerror(-r));
			dise__journal(c, "validate_test", bad ? "rejected" : "ok", why);
		}
		if (!bad && p->replay) {
			r = dise_validate_rules(c->st, c->tool, 0, copy, (unsigned)p->test_timeout_s * 1000u,
						why + strlen(cand), sizeof(why) - strlen(cand));
			memcpy(why, cand, strlen(cand));
			bad = r != 0;
			if (r < 0)
				snprintf(why, sizeof(why), "%sa rule could not be replayed: %s", cand, strerror(-r));
			dise__journal(c, "validate_rules", bad ? "rejected" : "ok", why);
		} else if (!copy) {
			dise__journal(c, "validate", "rejected", why);
		}
		free(copy);
		if (!bad)
			break;
		rejected[n++] = a;
	}
	return (int)n;
}

static int heal_one(dise_store *st, const struct dise_config *cfg, int64_t request, int64_t version, int64_t failure)
{
	struct dise__ctx c = { st, request, version, "", dise__now_ns(CLOCK_MONOTONIC) };
	const struct dise_tool_policy *p;
	struct dise__dag d;
	char detail[512], reason[1024] = "";
	int64_t *desc_ids = NULL;
	size_t n, i, tainted = 0;
	int r, known = 0;

	if ((r = dise__ctx_tool(&c)) < 0)
		return r;
	p = dise_config_tool(cfg, c.tool);
	if ((r = dise_store_failure_reason(st, failure, reason, sizeof(reason), &known)) < 0)
		return r;
	r = dise__journal(&c, "start", "ok", reason);

	if (r == 0 && p && p->freeze)
		return freeze_one(&c, reason, p, known);

	/*
	 * 0. nowhere better to go (no healthy ancestor): nothing is pruned,
	 * tainted or learned, the route in effect stays; the version is failing
	 * (still run, visible, notified). A route target judged bad is pruned
	 * only when the next healthy ancestor takes its place.
	 */
	if (r == 0 && (r = dise__dag_load(st, c.tool, &d)) == 0) {
		int64_t to = dise_heal_pick_ancestor(&d.g, version, NULL, 0);

		dise__dag_free(&d);
		if (!to) {
			r = dise_store_version_set_health(st, version, DISE_FAILING);
			if (r == 0)
				r = dise__journal(&c, "route", "no_ancestor",
					    "no healthy ancestor: nothing to route to; marked failing, nothing pruned, route kept");
			if (r == 0)
				r = dise_store_heal_set_state(st, request, DISE_HEAL_NO_ANCESTOR);
			return r;
		}
	}

	/* 1. failed, then pruned: kept with all its history */
	if (r == 0)
		r = dise_store_version_set_health(st, version, DISE_FAILED);
	if (r == 0)
		r = dise__journal(&c, "mark_failed", "ok", NULL);
	if (r == 0)
		r = dise_store_version_set_health(st, version, DISE_PRUNED);
	if (r == 0)
		r = dise__journal(&c, "prune", "ok", NULL);

	/* 2. taint the healthy descendants */
	if (r == 0)
		r = dise__dag_load(st, c.tool, &d);
	if (r < 0)
		return r;
	desc_ids = calloc(d.g.n + 1, sizeof(*desc_ids));
	n = desc_ids ? dise_heal_descendants(&d.g, version, desc_ids) : 0;
	for (i = 0; r == 0 && i < n; i++) {
		int k = dise_store_version_taint(st, desc_ids[i], version);

		if (k < 0)
			r = k;
		else
			tainted += (size_t)k;
	}
	free(desc_ids);
	dise__dag_free(&d);
	snprintf(detail, sizeof(detail), "%zu of %zu descendants degraded", tainted, n);
	if (r == 0)
		r = dise__journal(&c, "taint", "ok", detail);

	/* 3. the rule */
	if (r == 0)
		r = dise__learn_rule(&c, reason, p, known);

	/* 4. the route: at once, or after validating candidates outside this transaction */
	if (r == 0 && validates(p)) {
		r = dise_store_heal_set_state(st, request, DISE_HEAL_VALIDATING);
		return r < 0 ? r : 1;
	}
	if (r == 0)
		r = route_step(&c, NULL, 0, "no validation configured", p && p->restore);
	return r;
}

/*
 * A request left 'restoring' (policy "restore"): the route is committed and
 * in effect; now the healthy content is written back at the broken file's
 * paths, outside any transaction (a large binary takes a while, ingest goes
 * on), each outcome journaled, then the request is done. A collector stopped
 * in between restores when it starts again.
 */
static int finish_restoring(dise_store *st, int64_t request, int64_t version)
{
	struct dise__ctx c = { st, request, version, "", dise__now_ns(CLOCK_MONOTONIC) };
	int64_t ancestor = 0;
	int r = dise__ctx_tool(&c);

	if (r == 0 && (r = dise_store_route_get(st, c.tool, &ancestor)) > 0)
		r = 0;
	if (r == 0 && ancestor)
		r = restore_paths(&c, ancestor);
	if (r == 0)
		r = dise_store_heal_set_state(st, request, DISE_HEAL_DONE);
	return r;
}

/* The second half of a request left 'validating': candidates validated, then the route, in its own transaction. */
static int finish_validating(dise_store *st, const struct dise_config *cfg, int64_t request, int64_t version)
{
	struct dise__ctx c = { st, request, version, "", dise__now_ns(CLOCK_MONOTONIC) };
	const struct dise_tool_policy *p;
	int64_t rejected[32];
	int n = 0, r = dise__ctx_tool(&c);

	if (r < 0)
		return r;
	p = dise_config_tool(cfg, c.tool);
	if (validates(p))
		n = validate_candidates(&c, p, rejected, sizeof(rejected) / sizeof(rejected[0]));
	if (n < 0)
		return n;
	r = dise_store_begin(st);
	if (r == 0)
		r = route_step(&c, rejected, (size_t)n,
			       validates(p) ? "validated" : "no validation configured", p && p->restore);
	if (r == 0)
		r = dise_store_commit(st);
	else
		dise_store_rollback(st);
	return r;
}

int dise_heal_pending(dise_store *st, const struct dise_config *cfg)
{
	struct dise_heal_request req[64];
	int n, i, r = 0, done = 0, state, nregen = 0;
	int regen[64]; /* the requests routed back, healed forward once every request is routed */

	n = dise_store_heal_requests_open(st, req, 64);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (req[i].state == DISE_HEAL_RESTORING) {
			if ((r = finish_restoring(st, req[i].id, req[i].version)) < 0)
				return r;
			done++;
			continue;
		}
		r = req[i].state == DISE_HEAL_VALIDATING ? 1 : dise_store_begin(st);
		if (r == 0) {
			r = heal_one(st, cfg, req[i].id, req[i].version, req[i].failure);
			int k = r >= 0 ? dise_store_commit(st) : 0;

			if (k < 0)
				r = k;
		}
		if (r < 0) {
			dise_store_rollback(st);
			return r;
		}
		if (r == 1 && (r = finish_validating(st, cfg, req[i].id, req[i].version)) < 0)
			return r;
		/* left 'restoring' by the step that routed it */
		if ((r = dise_store_heal_state(st, req[i].id)) < 0 && r != -ENOENT)
			return r;
		state = r;
		if (r == DISE_HEAL_RESTORING && (r = finish_restoring(st, req[i].id, req[i].version)) < 0)
			return r;
		if (state == DISE_HEAL_DONE || state == DISE_HEAL_RESTORING)
			regen[nregen++] = i;
		done++;
	}
	/*
	 * Routed back: heal forward when the policy says so (regen.c), outside
	 * any transaction, and only after every request of this pass is
	 * routed: an attempt takes seconds (an llm's up to its timeouts), and
	 * another tool's route must not wait for it.
	 */
	for (i = 0; i < nregen; i++)
		if ((r = dise_regen_after_heal(st, cfg, req[regen[i]].id, req[regen[i]].version)) < 0)
			return r;
	return done;
}

int dise_heal_now(dise_store *st, const struct dise_config *cfg, int64_t version_id)
{
	int r = dise_store_begin(st);

	if (r == 0)
		r = dise_store_heal_request_add(st, version_id, DISE_DETECT_MANUAL, "healing asked by hand (dise heal)", 0,
						dise__now_ns(CLOCK_REALTIME));
	if (r == 0)
		r = dise_store_commit(st);
	else
		dise_store_rollback(st);
	if (r < 0)
		return r;
	r = dise_heal_pending(st, cfg);
	if (r >= 0)
		r = dise_heal_check_rules(st, cfg);
	return r < 0 ? r : 0;
}

int dise_heal_reset(dise_store *st, int64_t version_id, const char *who, const char *why)
{
	struct dise__ctx c = { st, 0, version_id, "", dise__now_ns(CLOCK_MONOTONIC) };
	char detail[768];
	int r;

	if ((r = dise__ctx_tool(&c)) < 0)
		return r;
	if (!c.tool[0])
		return -ENOENT;
	r = dise_store_begin(st);
	if (r == 0)
		r = dise_store_version_reset(st, version_id, c.tool, dise__now_ns(CLOCK_REALTIME));
	snprintf(detail, sizeof(detail), "by %s: %s", who, why && why[0] ? why : "(no reason given)");
	if (r == 0)
		r = dise__journal(&c, "reset", "ok", detail);
	if (r == 0)
		r = dise_store_commit(st);
	else
		dise_store_rollback(st);
	return r;
}
