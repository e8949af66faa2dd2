/* SPDX-License-Identifier: MIT */
/*
 * Canary rollouts: a new content of a tool earns its share of runs step by
 * step (the policy's "canary": steps, 5/50/100 by default) and loses it on
 * the first evidence that it is worse than the version that ran before.
 *
 * The share is a weighted route (include/dise/ring.h): the files that ran
 * as the canary are routed to the stable version's copy with canary_pct,
 * and the shim of each run picks its arm. Everything here is decided from
 * what the store holds, so a collector restarted in the middle of a
 * rollout resumes it where it was.
 *
 * Abort (weight 0, the canary then pruned as the three strikes would
 * prune it: a heal request of detector 'canary'), only on evidence that
 * the canary is worse than the stable: a crash whose signature no run of
 * the stable ever had, or the detectors pruning (or a rule failing) the
 * canary meanwhile. A failure rate above the stable's, or a slower median,
 * only holds the rollout at its step (its verdict says why): the
 * three-strike and error-rate detectors see the same runs and prune on
 * their own evidence.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canary.h"

static const struct dise_canary_policy *policy_of(const struct dise_config *cfg, const char *tool,
						  struct dise_canary_policy *def)
{
	const struct dise_tool_policy *p = cfg ? dise_config_tool(cfg, tool) : NULL;

	if (p)
		return &p->canary;
	dise_canary_policy_default(def);
	return def;
}

static int journal(dise_store *st, const struct dise_canary *c, const char *step, const char *result,
		   const char *detail, int64_t wall_ns)
{
	return dise_store_journal_add(st, 0, c->tool, c->canary, step, result, detail, wall_ns, 0);
}

/* Ends c in state with verdict (weight 0 unless promoted), journaled; a heal request when prune. */
static int end_rollout(dise_store *st, struct dise_canary *c, const char *state, const char *verdict, int prune,
		       int64_t wall_ns)
{
	int promoted = !strcmp(state, "promoted");
	int began = dise_store_tx_open(st), r = began;

	if (r < 0)
		return r;
	r = dise_store_canary_set(st, c->id, c->step, promoted ? 100 : 0, state, verdict, wall_ns);
	/* a regenerated canary promoted is the tool's route: every run of a pruned version runs it */
	if (r == 0 && promoted && c->regenerated)
		r = dise_store_route_set(st, c->tool, c->canary, wall_ns);
	if (r == 0)
		r = journal(st, c, promoted ? "canary_promote" : "canary_abort", promoted ? "ok" : state, verdict, wall_ns);
	if (r == 0 && prune)
		r = dise_store_heal_request_add(st, c->canary, DISE_DETECT_CANARY, verdict, 0, wall_ns);
	r = dise_store_tx_close(st, began, r);
	return r < 0 ? r : 1;
}

/* c to its next step (the last: promoted, the plain version), journaled with why. */
static int next_step(dise_store *st, const struct dise_canary_policy *p, struct dise_canary *c, const char *why,
		     int64_t wall_ns)
{
	char verdict[1024];
	int step = c->step + 1 < p->nsteps ? c->step + 1 : p->nsteps - 1;
	int weight = p->steps[step];
	int began, r;

	/* a weight at or below the current one (a policy changed meanwhile) never counts as a step up */
	while (weight <= c->weight && weight < 100 && step + 1 < p->nsteps)
		weight = p->steps[++step];
	if (weight >= 100 || weight <= c->weight) {
		snprintf(verdict, sizeof(verdict), "promoted to 100%% (%s): %s is the plain version of the tool", why,
			 c->canary_label);
		return end_rollout(st, c, "promoted", verdict, 0, wall_ns);
	}
	snprintf(verdict, sizeof(verdict), "step %d: %d%% -> %d%% of runs on %s (%s)", step + 1, c->weight, weight,
		 c->canary_label, why);
	began = r = dise_store_tx_open(st);
	if (r >= 0)
		r = dise_store_canary_set(st, c->id, step, weight, "running", verdict, wall_ns);
	if (r == 0)
		r = journal(st, c, "canary_step", "ok", verdict, wall_ns);
	r = dise_store_tx_close(st, began, r);
	return r < 0 ? r : 1;
}

/*
 * Whether the analysis lets c go to its next step: 1 (why in buf), 0 (the
 * verdict so far in buf), or -errno.
 */
static int analysis(dise_store *st, const struct dise_canary_policy *p, const struct dise_canary *c, int64_t wall_ns,
		    char *buf, size_t size)
{
	struct dise_arm_stats k, s;
	double krate, srate;
	int64_t at = wall_ns - c->step_wall_ns;
	int r = dise_store_arm_stats(st, c->canary, c->step_wall_ns, &k);

	/* the stable's baseline: its runs during the rollout, or all it had when they are too few */
	if (r == 0)
		r = dise_store_arm_stats(st, c->stable, c->started_wall_ns, &s);
	if (r == 0 && s.runs < p->min_runs)
		r = dise_store_arm_stats(st, c->stable, 0, &s);
	if (r < 0)
		return r;
	krate = k.runs ? (double)k.failures / (double)k.runs : 0;
	srate = s.runs ? (double)s.failures / (double)s.runs : 0;
	if (k.runs < p->min_runs || at < p->min_seconds * 1000000000) {
		snprintf(buf, size, "waiting: %lld of %lld canary runs, %lld of %lld s at this step", (long long)k.runs,
			 (long long)p->min_runs, (long long)(at / 1000000000), (long long)p->min_seconds);
		return 0;
	}
	if (krate > srate + p->failure_margin) {
		snprintf(buf, size, "holding: canary failure rate %.3f (%lld/%lld) above the stable's %.3f + %.3f",
			 krate, (long long)k.failures, (long long)k.runs, srate, p->failure_margin);
		return 0;
	}
	if (s.median_ns > 0 && (double)k.median_ns > p->max_slowdown * (double)s.median_ns) {
		snprintf(buf, size, "holding: canary median %.3f ms above %.2fx the stable's %.3f ms", k.median_ns / 1e6,
			 p->max_slowdown, s.median_ns / 1e6);
		return 0;
	}
	snprintf(buf, size, "%lld canary runs, failure rate %.3f vs stable %.3f, median %.3f ms vs %.3f ms",
		 (long long)k.runs, krate, srate, k.median_ns / 1e6, s.median_ns / 1e6);
	return 1;
}

/* The evidence that aborts c, in buf: 1 (prune: 1 when the canary is still to be pruned), 0 none, or -errno. */
static int abort_evidence(dise_store *st, const struct dise_canary *c, char *buf, size_t size, int *prune)
{
	char health[32], sig[160];
	int64_t run = 0;
	int stored, r = dise_store_version_state(st, c->canary, health, sizeof(health), &stored);

	if (r < 0)
		return r;
	*prune = 0;
	if (!strcmp(health, "pruned") || !strcmp(health, "failed")) {
		snprintf(buf, size, "the canary %s was %s by the detectors or a rule (see dise journal)", c->canary_label,
			 health);
		return 1;
	}
	r = dise_store_canary_new_crash(st, c->canary, c->stable, c->started_wall_ns, &run, sig, sizeof(sig));
	if (r <= 0)
		return r;
	snprintf(buf, size, "run %lld of the canary %s crashed with signature %s, which no run of the stable %s ever had",
		 (long long)run, c->canary_label, sig[0] ? sig : "(none: no stack)", c->stable_label);
	*prune = 1;
	return 1;
}

/* One running rollout: 1 when it changed, 0, or -errno. */
static int look_at(dise_store *st, const struct dise_config *cfg, struct dise_canary *c, int64_t wall_ns, int analyse)
{
	struct dise_canary_policy def;
	const struct dise_canary_policy *p = policy_of(cfg, c->tool, &def);
	char buf[1024], health[32];
	int prune = 0, stored, r = abort_evidence(st, c, buf, sizeof(buf), &prune);

	if (r != 0)
		return r < 0 ? r : end_rollout(st, c, "aborted", buf, prune, wall_ns);
	r = dise_store_version_state(st, c->stable, health, sizeof(health), &stored);
	if (r < 0)
		return r;
	if (strcmp(health, "healthy") && strcmp(health, "degraded")) {
		snprintf(buf, sizeof(buf), "the stable %s is %s: no rollout against it", c->stable_label, health);
		return end_rollout(st, c, "superseded", buf, 0, wall_ns);
	}
	if (!analyse)
		return 0;
	r = analysis(st, p, c, wall_ns, buf, sizeof(buf));
	if (r > 0)
		return next_step(st, p, c, buf, wall_ns);
	/* a hold is kept with its reason (once per change); "waiting" is said live (dise_canary_verdict) */
	if (r == 0 && !strncmp(buf, "holding", 7) && (!c->verdict || strcmp(c->verdict, buf)))
		r = dise_store_canary_set(st, c->id, c->step, c->weight, "running", buf, wall_ns);
	return r < 0 ? r : 0;
}

int dise_canary_verdict(dise_store *st, const struct dise_config *cfg, const struct dise_canary *c, int64_t wall_ns,
			char *buf, size_t size)
{
	struct dise_canary_policy def;

	if (strcmp(c->state, "running")) {
		snprintf(buf, size, "%s", c->verdict ? c->verdict : c->state);
		return 0;
	}
	return analysis(st, policy_of(cfg, c->tool, &def), c, wall_ns, buf, size);
}

int dise_canary_pass(dise_store *st, const struct dise_config *cfg, int64_t wall_ns, int analyse)
{
	struct dise_canary *c = NULL;
	size_t n = 0, i;
	int r = dise_store_canaries(st, 1, &c, &n), changed = 0;

	for (i = 0; r >= 0 && i < n; i++) {
		r = look_at(st, cfg, &c[i], wall_ns, analyse);
		changed += r > 0;
	}
	dise_canaries_free(c, n);
	return r < 0 ? r : changed;
}

int dise_canary_on_deploy(dise_store *st, const struct dise_config *cfg, const char *tool, int64_t stable,
			  int64_t canary, int64_t wall_ns)
{
	const struct dise_tool_policy *tp = cfg ? dise_config_tool(cfg, tool) : NULL;
	struct dise_canary old, c = { 0 };
	char health[32], detail[512], other[4096] = "";
	int stored, r;

	if (!tp || !tp->canary.on_deploy || tp->canary.steps[0] >= 100 || stable == canary)
		return 0;
	c.tool = (char *)tool;
	c.canary = canary;
	r = dise_store_canary_of(st, tool, &old);
	if (r > 0) {
		snprintf(detail, sizeof(detail), "superseded by a newer deploy (version %lld) before its end",
			 (long long)canary);
		r = end_rollout(st, &old, "superseded", detail, 0, wall_ns);
		/* the stable of the rollout it replaces stays the stable: the canary it replaces never earned it */
		if (r >= 0 && old.stable != canary)
			stable = old.stable;
		dise_canary_clear(&old);
	}
	if (r < 0)
		return r;
	r = dise_store_version_state(st, stable, health, sizeof(health), &stored);
	if (r < 0 || (r = dise_store_version_tool(st, stable, other, sizeof(other))) < 0)
		return r;
	if (strcmp(other, tool)) { /* the path's previous content was another tool's: never a route to it */
		snprintf(detail, sizeof(detail), "no canary: the version before it (%lld) is another tool's", (long long)stable);
		return journal(st, &c, "canary_start", "skipped", detail, wall_ns);
	}
	if (strcmp(health, "healthy") || !stored) {
		snprintf(detail, sizeof(detail), "no canary: the version before it (%lld) is %s%s", (long long)stable,
			 health[0] ? health : "gone", stored ? "" : ", and the store holds no copy of it");
		return journal(st, &c, "canary_start", "skipped", detail, wall_ns);
	}
	r = dise_store_canary_start(st, tool, stable, canary, tp->canary.steps[0], wall_ns);
	if (r <= 0)
		return r;
	snprintf(detail, sizeof(detail), "version %lld is the canary at %d%% of runs, version %lld the stable",
		 (long long)canary, tp->canary.steps[0], (long long)stable);
	r = journal(st, &c, "canary_start", "ok", detail, wall_ns);
	return r < 0 ? r : 1;
}

int dise_canary_path_moved(dise_store *st, const char *tool, const char *path, int64_t version, int64_t wall_ns)
{
	struct dise_canary c;
	char detail[PATH_MAX + 256], label[64] = "";
	int64_t head = 0;
	int r = dise_store_path_head(st, path, &head);

	if (r < 0 || !head || head == version || (r = dise_store_canary_of(st, tool, &c)) <= 0)
		return r < 0 ? r : 0;
	if (c.canary != head) { /* the canary never was at this path (or another content is replaced) */
		dise_canary_clear(&c);
		return 0;
	}
	dise_store_version_label(st, version, label, sizeof(label));
	if (version == c.stable)
		snprintf(detail, sizeof(detail),
			 "abandoned: %s holds the stable %s again (a rollback by hand); the canary %s left the path",
			 path, c.stable_label, c.canary_label);
	else
		snprintf(detail, sizeof(detail), "superseded: %s now holds %s; the canary %s left the path", path,
			 label[0] ? label : "another version", c.canary_label);
	r = end_rollout(st, &c, "superseded", detail, 0, wall_ns);
	dise_canary_clear(&c);
	return r;
}

int dise_canary_regenerated(dise_store *st, const struct dise_canary_policy *p, const char *tool, int64_t stable,
			     int64_t canary, int64_t wall_ns)
{
	struct dise_canary c = { 0 };
	char health[32], detail[512];
	int64_t route = 0;
	int stored, r;

	if (!p || !p->on_regenerate || p->steps[0] >= 100)
		return 0;
	c.tool = (char *)tool;
	c.canary = canary;
	/* the stable is what the route runs now: the healthy ancestor, with its copy */
	if ((r = dise_store_route_get(st, tool, &route)) < 0 ||
	    (r = dise_store_version_state(st, stable, health, sizeof(health), &stored)) < 0)
		return r;
	if (route != stable || strcmp(health, "healthy") || !stored) {
		snprintf(detail, sizeof(detail),
			 "no canary for regenerated version %lld: the route runs %lld, not the healthy ancestor %lld with "
			 "its copy; routed directly", (long long)canary, (long long)route, (long long)stable);
		r = journal(st, &c, "canary_start", "skipped", detail, wall_ns);
		return r < 0 ? r : 0;
	}
	r = dise_store_canary_start(st, tool, stable, canary, p->steps[0], wall_ns);
	if (r <= 0) { /* another rollout of the tool runs: routed directly, as without a canary */
		snprintf(detail, sizeof(detail), "no canary for regenerated version %lld: a rollout of %s runs; routed directly",
			 (long long)canary, tool);
		return r < 0 ? r : journal(st, &c, "canary_start", "skipped", detail, wall_ns);
	}
	snprintf(detail, sizeof(detail),
		 "regenerated version %lld is the canary at %d%% of the runs routed to version %lld, the healthy "
		 "ancestor, which stays the stable",
		 (long long)canary, p->steps[0], (long long)stable);
	r = journal(st, &c, "canary_start", "ok", detail, wall_ns);
	return r < 0 ? r : 1;
}

int dise_canary_promote(dise_store *st, const struct dise_config *cfg, const char *tool, const char *who,
			int64_t wall_ns)
{
	struct dise_canary_policy def;
	struct dise_canary c;
	char why[256];
	int r = dise_store_canary_of(st, tool, &c);

	if (r <= 0)
		return r;
	snprintf(why, sizeof(why), "promoted by hand by %s", who);
	r = next_step(st, policy_of(cfg, tool, &def), &c, why, wall_ns);
	dise_canary_clear(&c);
	return r;
}

int dise_canary_abort(dise_store *st, const char *tool, const char *who, int64_t wall_ns)
{
	struct dise_canary c;
	char why[256];
	int r = dise_store_canary_of(st, tool, &c);

	if (r <= 0)
		return r;
	/* by hand: every run goes to the stable, nothing is pruned (no evidence against the canary) */
	snprintf(why, sizeof(why), "aborted by hand by %s: every run of the tool runs the stable %s", who,
		 c.stable_label);
	r = end_rollout(st, &c, "aborted", why, 0, wall_ns);
	dise_canary_clear(&c);
	return r;
}
