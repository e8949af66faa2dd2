/* SPDX-License-Identifier: MIT */
/*
 * The outcome of a regeneration attempt (regen-internal.h), and the
 * operator's word on a proposal (`dise approve`, `dise reject`). A
 * regenerated version is a version like any other: its content in the CAS,
 * its parents the healthy ancestor and the pruned version, healthy until
 * the detectors say otherwise (a strike against it is pruned and healed like
 * any); what makes it regenerated is its mutation, which `dise lineage`
 * shows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "regen-internal.h"
#include "regen.h"
#include "resolve.h"

/*
 * The version of content cas (sha) for tool, child of ancestor and pruned,
 * at pruned's path, into *ret. -EEXIST when tool has that content already
 * (it is that version, not a new one). 0 or -errno. In a transaction.
 */
static int new_version(dise_store *st, const char *tool, const char *sha, const char *cas, int64_t ancestor,
		       int64_t pruned, int64_t size, int64_t *ret)
{
	char path[PATH_MAX];
	int64_t old = 0;
	int r = dise_store_version_find(st, tool, sha, &old);

	if (r > 0)
		return -EEXIST;
	if (r == 0)
		r = dise_store_version_path(st, pruned, path, sizeof(path));
	if (r >= 0)
		r = dise_store_version_add(st, tool, sha, NULL, r > 0 ? path : NULL, size, dise__now_ns(CLOCK_REALTIME), cas,
					   ret);
	if (r == 0)
		r = dise_store_parent_add(st, *ret, ancestor);
	if (r == 0)
		r = dise_store_parent_add(st, *ret, pruned);
	return r;
}

/* The candidate at g->cand into the CAS: its sha and copy's path. 0 or -errno. */
static int to_cas(struct rg *g, char sha[65], char *cas, size_t size)
{
	int r = dise__regen_write(g, g->text, g->len);

	if (r == 0)
		r = dise_hash_file(g->cand, g->cas, NULL, sha);
	if (r == 0 && ((size_t)snprintf(cas, size, "%s/%s", g->cas, sha) >= size || access(cas, R_OK) < 0))
		r = -EIO; /* no copy: nothing could run it */
	return r;
}

/* The ratchet after g's verdict: an acceptance raises the best and clears the count, a rejection counts. */
static int ratchet_step(struct rg *g, int accepted, int64_t now, char *note, size_t size)
{
	struct dise_ratchet rt = g->ratchet;

	note[0] = '\0';
	if (accepted) {
		rt.best = g->fitness > g->best ? g->fitness : g->best;
		rt.rejections = 0;
		rt.locked_until_ns = 0;
	} else if (!strcmp(g->verdict, DISE_MUT_FAILED) || !strcmp(g->verdict, DISE_MUT_RATCHET)) {
		rt.rejections++;
		if (rt.rejections >= g->pol.lock_after) {
			rt.locked_until_ns = now + (int64_t)g->pol.cooldown_s * 1000000000;
			snprintf(note, size, "; %d consecutive rejections: regeneration locked for %d s", rt.rejections,
				 g->pol.cooldown_s);
			rt.rejections = 0;
		}
	} else {
		return 0; /* not tried: nothing to count */
	}
	return dise_store_ratchet_set(g->c.st, g->c.tool, &rt);
}

int dise__regen_conclude(struct rg *g)
{
	int accepted = g->verdict && (!strcmp(g->verdict, DISE_MUT_ROUTED) || !strcmp(g->verdict, DISE_MUT_PROPOSED));
	int64_t now = dise__now_ns(CLOCK_REALTIME), version = 0;
	char sha[65] = "", cas[PATH_MAX + 80] = "", lock[160], detail[2400];
	struct dise_mutation m = { 0 };
	int r = 0;

	if (accepted && (r = to_cas(g, sha, cas, sizeof(cas))) < 0) {
		snprintf(g->why, sizeof(g->why), "the candidate could not be stored: %s", strerror(-r));
		g->verdict = DISE_MUT_FAILED;
		accepted = 0;
	}
	if ((r = dise_store_begin(g->c.st)) < 0)
		return r;
	if (accepted && !strcmp(g->verdict, DISE_MUT_ROUTED)) {
		r = new_version(g->c.st, g->c.tool, sha, cas, g->ancestor, g->pruned, (int64_t)g->len, &version);
		if (r == 0)
			r = dise_store_route_set(g->c.st, g->c.tool, version, now);
		if (r == -EEXIST) {
			snprintf(g->why, sizeof(g->why), "the candidate's content is a version of the tool already: not routed");
			g->verdict = DISE_MUT_SKIPPED;
			accepted = 0;
			r = 0;
		}
	}
	m = (struct dise_mutation){ 0, g->pruned, g->ancestor, version, g->c.tool, "revert-hunks", g->verdict, g->why,
				    g->diff, g->diff_sha[0] ? g->diff_sha : NULL, g->validation[0] ? g->validation : NULL,
				    cas[0] ? cas : NULL, (int)g->nh, __builtin_popcountll(g->revert), g->tried, g->fitness,
				    g->best > 0 ? g->best : -1, dise__now_ns(CLOCK_MONOTONIC) - g->t0, now };
	if (r == 0)
		r = dise_store_mutation_add(g->c.st, &m, &m.id);
	if (r == 0)
		r = ratchet_step(g, accepted, now, lock, sizeof(lock));
	if (r == 0) {
		char label[64] = "";

		if (version)
			dise_store_version_label(g->c.st, version, label, sizeof(label));
		snprintf(detail, sizeof(detail), "mutation %lld: %s%s%s%s%s%s", (long long)m.id, g->why,
			 version ? "; routed to regenerated " : "", label,
			 !strcmp(g->verdict, DISE_MUT_PROPOSED) ? "; proposed: dise approve " : "",
			 !strcmp(g->verdict, DISE_MUT_PROPOSED) ? "(see dise proposals)" : "", lock);
		r = dise__journal(&g->c, "regenerate", g->verdict, detail);
	}
	if (r == 0)
		r = dise_store_commit(g->c.st);
	else
		dise_store_rollback(g->c.st);
	return r < 0 ? r : accepted;
}

int dise_regen_approve(dise_store *st, int64_t id, const char *who, char *why, size_t size)
{
	struct dise_proposal p;
	struct dise__ctx c = { st, 0, 0, "", dise__now_ns(CLOCK_MONOTONIC) };
	char sha[65], label[64] = "", detail[512];
	int64_t version = 0, now = dise__now_ns(CLOCK_REALTIME);
	int r = dise_store_proposal_get(st, id, &p);

	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	c.version = p.pruned;
	snprintf(c.tool, sizeof(c.tool), "%s", p.tool);
	r = p.cas_path ? dise_hash_file(p.cas_path, NULL, NULL, sha) : -ENOENT;
	if (r < 0)
		snprintf(why, size, "the proposal's candidate copy is gone: %s", strerror(-r));
	if (r == 0 && (r = dise_store_begin(st)) == 0) {
		r = new_version(st, p.tool, sha, p.cas_path, p.ancestor, p.pruned, 0, &version);
		if (r == 0)
			r = dise_store_route_set(st, p.tool, version, now);
		if (r == 0)
			r = dise_store_mutation_verdict(st, id, DISE_MUT_APPROVED, version, who);
		if (r == 0)
			r = dise_store_version_label(st, version, label, sizeof(label));
		snprintf(detail, sizeof(detail), "mutation %lld approved by %s: routed to regenerated %s", (long long)id, who,
			 label);
		if (r == 0)
			r = dise__journal(&c, "regenerate", DISE_MUT_APPROVED, detail);
		if (r == 0)
			r = dise_store_commit(st);
		else
			dise_store_rollback(st);
		if (r == -EEXIST)
			snprintf(why, size, "the candidate's content is a version of the tool already");
		else if (r == 0)
			snprintf(why, size, "%s routed to regenerated %s", p.tool, label);
	}
	dise_proposal_free(&p);
	return r;
}

int dise_regen_reject(dise_store *st, int64_t id, const char *who, const char *reason)
{
	struct dise_proposal p;
	struct dise__ctx c = { st, 0, 0, "", dise__now_ns(CLOCK_MONOTONIC) };
	char detail[1200];
	int r = dise_store_proposal_get(st, id, &p);

	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	c.version = p.pruned;
	snprintf(c.tool, sizeof(c.tool), "%s", p.tool);
	snprintf(detail, sizeof(detail), "refused by %s: %s", who, reason && reason[0] ? reason : "(no reason given)");
	r = dise_store_begin(st);
	if (r == 0)
		r = dise_store_mutation_verdict(st, id, DISE_MUT_REFUSED, 0, detail);
	if (r == 0) {
		char j[1300];

		snprintf(j, sizeof(j), "mutation %lld %s", (long long)id, detail);
		r = dise__journal(&c, "regenerate", DISE_MUT_REFUSED, j);
	}
	if (r == 0)
		r = dise_store_commit(st);
	else
		dise_store_rollback(st);
	dise_proposal_free(&p);
	return r;
}
