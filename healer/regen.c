/* SPDX-License-Identifier: MIT */
/*
 * Healing forward, strategy revert-hunks (regen.h). For pruned version P of
 * tool T, routed to its healthy ancestor A:
 *   1. the source: a #! script is its own (the CAS holds A's and P's text);
 *      a compiled tool has none known here: rollback only, said so;
 *   2. the hunks of the diff A -> P; a candidate is P with a set of hunks
 *      reverted (all of them: A's text, which must pass first, or nothing
 *      is trusted);
 *   3. ddmin over the hunks finds a 1-minimal revert set whose candidate
 *      passes, within max_candidates and budget_seconds (out of budget: the
 *      smallest passing set found so far, which passed like every other);
 *   4. fitness (regen-fitness.c), in the same sandbox, on A and on the candidate: the pass
 *      ratio of the checks times the speed factor (medians of interleaved
 *      rounds); the ratchet wants >= ratchet x the best ever accepted;
 *   5. the candidate becomes a version (parents A and P, a mutation record)
 *      routed to (mode auto) or proposed (suggest).
 * A check is the tool's test command and the replay of every rule of T
 * that keeps an invocation, each in the sandbox (sandbox.h): a candidate is
 * accepted only when all pass. Nothing here runs in a transaction but the
 * last step's; every outcome is a journal row and a mutation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "heal-internal.h"
#include "home.h"
#include "regen-diff.h"
#include "regen-internal.h"
#include "regen.h"
#include "sandbox.h"
#include "sha256.h"
#include "store-regen.h"
#include "validate.h"

#define MAX_TEXT (4u << 20)	 /* a script larger than 4 MiB is not diffed */
#define MAX_VERSION (64u << 20) /* a version's copy held to run it (a compiled tool's): the sandbox's file-size limit */

int dise__regen_read_max(const char *path, size_t max, char **ret, size_t *len)
{
	struct stat sb;
	char *s;
	int fd = dise_open_regular(path, 1, &sb);
	ssize_t n;

	if (fd < 0)
		return fd;
	if ((size_t)sb.st_size > max) {
		close(fd);
		return -E2BIG;
	}
	s = malloc((size_t)sb.st_size + 1);
	n = s ? read(fd, s, (size_t)sb.st_size) : -1;
	close(fd);
	if (n != sb.st_size) {
		free(s);
		return s ? -EIO : -ENOMEM;
	}
	s[n] = '\0';
	*ret = s;
	*len = (size_t)n;
	return 0;
}

int dise__regen_read(const char *path, char **ret, size_t *len)
{
	return dise__regen_read_max(path, MAX_TEXT, ret, len);
}

/* The text of version v (its CAS copy) into *text. 0, or -errno with why. */
static int version_text(struct rg *g, int64_t v, char **text, size_t *len)
{
	char *copy = NULL;
	int r = dise_store_version_copy(g->c.st, v, &copy);

	if (r == 0 && !copy)
		r = -ENOENT;
	if (r == 0)
		r = dise__regen_read_max(copy, MAX_VERSION, text, len);
	if (r < 0)
		snprintf(g->why, sizeof(g->why), "no readable copy of v%lld: %s", (long long)v,
			 r == -E2BIG ? "larger than 64 MiB" : strerror(-r));
	free(copy);
	return r;
}

int dise__regen_write(struct rg *g, const char *text, size_t len)
{
	char tmp[PATH_MAX + 320];
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.new", g->cand);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0755);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		r = -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, g->cand) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/*
 * The checks on the candidate at g->cand, in the sandbox: the test command,
 * then every rule's replay. 1 when all passed, 0 when one failed (why in
 * g->fail), -errno when one could not run. *wall_ns: their total time.
 */
int dise__regen_checks(struct rg *g, int64_t *wall_ns)
{
	char *argv[] = { "sh", "-c", g->p->test_command, NULL }, *env = NULL;
	unsigned tmo = (unsigned)g->p->test_timeout_s * 1000u;
	int64_t w = 0;
	int st, r;
	size_t i;

	*wall_ns = 0;
	if (asprintf(&env, "DISE_CANDIDATE=%s", g->cand) < 0)
		return -ENOMEM;
	r = dise_sandbox_run(g->scratch, "/bin/sh", argv, NULL, env, tmo, &st, &w);
	free(env);
	*wall_ns += w;
	if (r == -ETIMEDOUT || (r == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))) {
		const char *lim = dise_sandbox_last_limit();

		snprintf(g->fail, sizeof(g->fail), "test command %s%s%s", r ? "timed out" : WIFSIGNALED(st) ? "killed" : "failed",
			 lim ? ": " : "", lim ? lim : "");
		return 0;
	}
	if (r < 0)
		return r;
	for (i = 0; i < g->nrules; i++) {
		char **rv = dise_validate_argv(g->rules[i].argv);

		if (!rv)
			continue;
		r = dise_sandbox_run(g->scratch, g->cand, dise_validate_script_args(rv, g->cand), g->rules[i].cwd, NULL, tmo, &st, &w);
		dise_validate_argv_free(rv);
		*wall_ns += w;
		if (r == -ETIMEDOUT || (r == 0 && dise_sandbox_ended_like(&g->rules[i], st))) {
			snprintf(g->fail, sizeof(g->fail), "rule %lld %s", (long long)g->rules[i].rule,
				 r ? "replay timed out" : "replay failed the same way");
			return 0;
		}
		if (r < 0)
			return r;
	}
	return 1;
}

/* The candidate with the hunks of mask reverted: 1 passes, 0 fails, -ETIME out of budget, -errno. */
static int probe(struct rg *g, uint64_t mask)
{
	size_t i, len;
	int64_t wall;
	char *text;
	int r;

	for (i = 0; i < g->ncache; i++)
		if (g->cache[i].mask == mask)
			return g->cache[i].ok;
	if (g->tried >= g->pol.max_candidates || dise__now_ns(CLOCK_MONOTONIC) >= g->deadline_ns)
		return -ETIME;
	if (g->src) /* a compiled tool: built from its source tree */
		r = dise__regen_source_candidate(g, mask, &text, &len, NULL);
	else
		r = (text = dise_diff_apply(&g->la, &g->lp, g->h, g->nh, mask, &len, NULL, NULL)) ? 1 : -ENOMEM;
	if (r == 1) {
		r = dise__regen_write(g, text, len);
		free(text);
		if (r == 0)
			r = dise__regen_checks(g, &wall);
	}
	if (r < 0)
		return r;
	g->tried++;
	if (g->ncache < sizeof(g->cache) / sizeof(g->cache[0]))
		g->cache[g->ncache++] = (struct rg_probe){ mask, r };
	return r;
}

int dise__regen_sha(const char *s, size_t len, char hex[65])
{
	struct dise_sha256 h;
	uint8_t d[32];
	int r = dise_sha256_init(&h);

	dise_sha256_update(&h, s, len);
	if (dise_sha256_final(&h, d) < 0 || r < 0)
		return -ENOMEM;
	dise_sha256_hex(d, hex);
	return 0;
}

static int popcount(uint64_t m)
{
	return __builtin_popcountll(m);
}

/* Part k of n of the set bits of c, in order. */
static uint64_t part(uint64_t c, int k, int n)
{
	int total = popcount(c), lo = total * k / n, hi = total * (k + 1) / n, at = 0;
	uint64_t out = 0;

	for (int b = 0; b < 64; b++)
		if ((c >> b) & 1) {
			if (at >= lo && at < hi)
				out |= (uint64_t)1 << b;
			at++;
		}
	return out;
}

/*
 * Zeller's ddmin over the revert set c (all hunks, known to pass): a
 * 1-minimal subset whose candidate passes, or the smallest found when the
 * budget ends. *ret: it. 0, or -errno (a check could not run).
 */
static int ddmin(struct rg *g, uint64_t c, uint64_t *ret)
{
	int n = 2, r = 0;

	while (popcount(c) >= 2) {
		int found = 0, k;

		for (k = 0; k < n && !found; k++) { /* a part alone */
			uint64_t s = part(c, k, n);

			if (s && (r = probe(g, s)) == 1)
				c = s, n = 2, found = 1;
			else if (r < 0)
				goto out;
		}
		for (k = 0; n > 2 && k < n && !found; k++) { /* all but a part */
			uint64_t s = c & ~part(c, k, n);

			if ((r = probe(g, s)) == 1)
				c = s, n = n - 1 > 2 ? n - 1 : 2, found = 1;
			else if (r < 0)
				goto out;
		}
		if (found)
			continue;
		if (n >= popcount(c))
			break;
		n = 2 * n < popcount(c) ? 2 * n : popcount(c);
	}
	r = 0;
out:
	*ret = c;
	return r == -ETIME ? 0 : r;
}

/* A #! script's hunks: the line diff of A's text to P's; 1, 0 (g->why), -errno. */
static int text_hunks(struct rg *g)
{
	int r;

	if (g->alen > MAX_TEXT || g->plen > MAX_TEXT) {
		snprintf(g->why, sizeof(g->why), "a script larger than 4 MiB is not diffed: rollback only");
		return 0;
	}
	if ((r = dise_lines_split(g->atext, g->alen, &g->la)) < 0 || (r = dise_lines_split(g->ptext, g->plen, &g->lp)) < 0)
		return r;
	r = dise_diff_hunks(&g->la, &g->lp, &g->h, &g->nh);
	if (r == -E2BIG) {
		snprintf(g->why, sizeof(g->why), "the diff is too large to search (more than %d hunks, or 16 M line pairs)",
			 DISE_DIFF_MAX_HUNKS);
		return 0;
	}
	if (r < 0)
		return r;
	if (!g->nh) {
		snprintf(g->why, sizeof(g->why), "the pruned version's text is its ancestor's: nothing to keep");
		return 0;
	}
	return 1;
}

/* The source of A and P, and their hunks; 1 ready, 0 nothing to regenerate from (g->why), -errno. */
static int prepare(struct rg *g)
{
	char *pt = NULL;
	int r;

	if (!g->p || !g->p->test_command) {
		snprintf(g->why, sizeof(g->why), "no test_command in dise.json to validate a candidate: rollback only");
		return 0;
	}
	if ((r = version_text(g, g->ancestor, &g->atext, &g->alen)) < 0 || (r = version_text(g, g->pruned, &pt, &g->plen)) < 0)
		return r == -ENOMEM ? r : 0;
	g->ptext = pt;
	if (strncmp(g->atext, "#!", 2) || strncmp(g->ptext, "#!", 2)) {
		if ((r = dise__regen_source_prepare(g)) <= 0)
			return r;
	} else if ((r = text_hunks(g)) <= 0) {
		return r;
	}
	if ((r = dise_sandbox_check(g->why, sizeof(g->why))) < 0)
		return 0;
	return dise_store_rules_replayable(g->c.st, g->c.tool, 0, &g->rules, &g->nrules) < 0 ? -EIO : 1;
}

/* A must pass the checks and P must fail them, or no candidate's pass means anything: 1 both hold, 0 not (verdict), -errno. */
static int bounds(struct rg *g, uint64_t all)
{
	int r = probe(g, all);

	if (r == -ETIME)
		r = 0;
	if (r < 0)
		return r;
	if (r == 0) {
		snprintf(g->why, sizeof(g->why), "the ancestor itself does not pass the checks in the sandbox (%s)", g->fail);
		g->verdict = DISE_MUT_FAILED;
		return 0;
	}
	if ((r = probe(g, 0)) < 0 && r != -ETIME)
		return r;
	if (r != 0) {
		snprintf(g->why, sizeof(g->why), "the pruned version itself passes the checks (%s): they cannot show a "
						 "candidate avoids its failure",
			 g->nrules ? "the rules' replays do not fail it" : "no rule keeps a failing invocation to replay");
		g->verdict = DISE_MUT_SKIPPED;
		return 0;
	}
	return 1;
}

/* Strategy revert-hunks: ddmin's revert set, the candidate and its diff in g. 1 found, 0 not (verdict), -errno. */
static int revert_hunks(struct rg *g, uint64_t all)
{
	int r = ddmin(g, all, &g->revert);

	if (r < 0)
		return r;
	if (g->revert == all) {
		snprintf(g->why, sizeof(g->why), "every one of the %zu hunks had to be reverted: nothing of the pruned version "
						 "kept, the rollback stands",
			 g->nh);
		g->verdict = DISE_MUT_FAILED;
		return 0;
	}
	if (g->src) {
		if ((r = dise__regen_source_candidate(g, g->revert, &g->text, &g->len, &g->diff)) < 0)
			return r;
		if (r == 0) { /* it built a moment ago */
			snprintf(g->why, sizeof(g->why), "the chosen candidate did not build again (%s)", g->fail);
			g->verdict = DISE_MUT_FAILED;
			return 0;
		}
	} else if (!(g->text = dise_diff_apply(&g->la, &g->lp, g->h, g->nh, g->revert, &g->len, g->name, &g->diff))) {
		return -ENOMEM;
	}
	if ((r = dise__regen_sha(g->diff, strlen(g->diff), g->diff_sha)) < 0)
		return r;
	snprintf(g->why, sizeof(g->why), "%zu of %zu hunks reverted, %zu kept; %d candidates", (size_t)popcount(g->revert),
		 g->nh, g->nh - (size_t)popcount(g->revert), g->tried);
	return 1;
}

/*
 * The candidate's confidence, from its validation: the fitness relative to
 * the best (its checks' pass ratio and speed), halved when no rule's replay
 * vouched for it (only the test command did).
 */
static double confidence(const struct rg *g)
{
	double ratio = g->best > 0 ? g->fitness / g->best : 0;

	return (ratio > 1 ? 1 : ratio < 0 ? 0 : ratio) * (g->nrules ? 1.0 : 0.5);
}

/* The verdict on the candidate in g: the operator's refusals, the ratchet's measure, the mode. 0 or -errno. */
static int judge(struct rg *g)
{
	char note[512], found[900];
	int r = dise_store_mutation_refused(g->c.st, g->c.tool, g->diff_sha);

	if (r < 0)
		return r;
	if (r) {
		snprintf(g->why, sizeof(g->why), "the same diff was refused by an operator before: not proposed again");
		g->verdict = DISE_MUT_SKIPPED;
		return 0;
	}
	snprintf(found, sizeof(found), "%.899s", g->why);
	/* the best: the best ever accepted, or the ancestor's (1: it passed) */
	g->best = g->ratchet.best > 1.0 ? g->ratchet.best : 1.0;
	if ((r = dise__regen_measure(g, g->text, g->len, g->pol.ratchet * g->best, note, sizeof(note))) < 0)
		return r;
	if (g->base < 1.0)
		g->best = g->ratchet.best > g->base ? g->ratchet.best : g->base;
	g->confidence = confidence(g);
	snprintf(g->validation, sizeof(g->validation), "%s; fitness %.3f, best %.3f, ratchet %.2f; confidence %.2f", note,
		 g->fitness, g->best, g->pol.ratchet, g->confidence);
	if (g->fitness < g->pol.ratchet * g->best) {
		snprintf(g->why, sizeof(g->why), "below the ratchet: fitness %.3f < %.2f x best %.3f", g->fitness,
			 g->pol.ratchet, g->best);
		g->verdict = DISE_MUT_RATCHET;
		return 0;
	}
	g->verdict = g->pol.mode == DISE_REGEN_AUTO ? DISE_MUT_ROUTED : DISE_MUT_PROPOSED;
	if (g->pol.mode == DISE_REGEN_CONFIDENCE)
		g->verdict = g->confidence >= g->pol.confidence ? DISE_MUT_ROUTED : DISE_MUT_PROPOSED;
	snprintf(g->why, sizeof(g->why), "%.899s%s", found,
		 g->pol.mode != DISE_REGEN_CONFIDENCE	   ? ""
		 : !strcmp(g->verdict, DISE_MUT_ROUTED) ? "; confidence at or above the threshold: routed"
							 : "; confidence below the threshold: proposed");
	return 0;
}

/* The search: A and P bound the checks, a candidate by the tool's strategy, its verdict. 0 or -errno. */
static int search(struct rg *g)
{
	uint64_t all = g->nh == 64 ? ~(uint64_t)0 : (((uint64_t)1 << g->nh) - 1);
	int r = bounds(g, all);

	if (r > 0)
		r = g->pol.strategy == DISE_REGEN_REVERT_HUNKS ? revert_hunks(g, all) : dise__regen_forward(g);
	if (r > 0 && g->pol.strategy != DISE_REGEN_REVERT_HUNKS)
		snprintf(g->why, sizeof(g->why), "%s: a candidate passed validation at try %d of %d", g->strategy,
			 g->tries, g->pol.max_attempts);
	return r > 0 ? judge(g) : r;
}

static void rg_free(struct rg *g)
{
	dise__regen_source_free(g);
	if (g->scratch[0]) {
		unlink(g->cand);
		rmdir(g->scratch);
	}
	free(g->atext);
	free(g->ptext);
	free(g->text);
	free(g->diff);
	free(g->h);
	dise_lines_free(&g->la);
	dise_lines_free(&g->lp);
	dise_replays_free(g->rules, g->nrules);
}

/* One attempt for g (tool, pruned, ancestor, policy set). 1 routed or proposed, 0 not, -errno. */
static int attempt(struct rg *g)
{
	int64_t now = dise__now_ns(CLOCK_REALTIME);
	char home[PATH_MAX];
	const char *base;
	int r;

	g->t0 = dise__now_ns(CLOCK_MONOTONIC);
	g->deadline_ns = g->t0 + (int64_t)g->pol.budget_s * 1000000000;
	g->fitness = g->base = g->confidence = -1;
	g->strategy = g->pol.strategy == DISE_REGEN_LLM ? "llm" : g->pol.strategy == DISE_REGEN_COMMAND ? "command" : "revert-hunks";
	g->model = g->pol.strategy == DISE_REGEN_LLM ? g->pol.model : NULL;
	base = strrchr(g->c.tool, '/');
	snprintf(g->name, sizeof(g->name), "%.200s", base && base[1] ? base + 1 : g->c.tool[0] ? g->c.tool : "candidate");
	if ((r = dise_store_ratchet_get(g->c.st, g->c.tool, &g->ratchet)) < 0)
		return r;
	if (g->ratchet.locked_until_ns > now) {
		snprintf(g->why, sizeof(g->why), "locked by the ratchet after %d consecutive rejections, for %.0f s more",
			 g->pol.lock_after, (double)(g->ratchet.locked_until_ns - now) / 1e9);
		g->verdict = DISE_MUT_LOCKED;
		return dise__regen_conclude(g);
	}
	r = prepare(g);
	if (r < 0)
		return r;
	if (r == 0) {
		g->verdict = DISE_MUT_SKIPPED;
		return dise__regen_conclude(g);
	}
	if ((r = dise_home(home, sizeof(home))) < 0)
		return r;
	if ((size_t)snprintf(g->scratch, sizeof(g->scratch), "%s/regen-XXXXXX", home) >= sizeof(g->scratch) ||
	    !mkdtemp(g->scratch)) {
		g->scratch[0] = '\0';
		return -ENAMETOOLONG;
	}
	snprintf(g->cand, sizeof(g->cand), "%s/%s", g->scratch, g->name);
	snprintf(g->cas, sizeof(g->cas), "%s/cas", home);
	r = search(g);
	if (r < 0) {
		snprintf(g->why, sizeof(g->why), "a check could not run: %s", strerror(-r));
		g->verdict = DISE_MUT_FAILED;
	}
	return dise__regen_conclude(g);
}

static int run_attempt(dise_store *st, const struct dise_config *cfg, int64_t request, const char *tool, int64_t pruned,
		       int64_t ancestor, char *why, size_t size)
{
	struct rg *g = calloc(1, sizeof(*g));
	int r;

	if (!g)
		return -ENOMEM;
	g->c = (struct dise__ctx){ st, request, pruned, "", dise__now_ns(CLOCK_MONOTONIC) };
	snprintf(g->c.tool, sizeof(g->c.tool), "%s", tool);
	g->p = dise_config_tool(cfg, tool);
	if (g->p && g->p->regen.enabled)
		g->pol = g->p->regen;
	else
		dise_regen_policy_default(&g->pol);
	g->pruned = pruned;
	g->ancestor = ancestor;
	r = attempt(g);
	if (why)
		snprintf(why, size, "%s: %s", g->verdict ? g->verdict : "error", g->why);
	rg_free(g);
	free(g);
	return r;
}

int dise_regen_after_heal(dise_store *st, const struct dise_config *cfg, int64_t request, int64_t pruned)
{
	const struct dise_tool_policy *p;
	char tool[PATH_MAX];
	int64_t ancestor = 0;
	int r = dise_store_version_tool(st, pruned, tool, sizeof(tool));

	if (r <= 0)
		return r;
	p = dise_config_tool(cfg, tool);
	if (!p || !p->regen.enabled)
		return 0;
	if ((r = dise_store_route_get(st, tool, &ancestor)) < 0)
		return r;
	if (!r || !ancestor)
		return 0;
	{
		int64_t done = 0;

		/* healed forward already (by another healer on the same request) */
		if ((r = dise_store_mutation_accepted(st, pruned, &done)) != 0)
			return r < 0 ? r : 0;
	}
	r = run_attempt(st, cfg, request, tool, pruned, ancestor, NULL, 0);
	return r < 0 ? r : 0;
}

int dise_regenerate(dise_store *st, const struct dise_config *cfg, const char *tool, int64_t pruned, char *why,
		    size_t size)
{
	int64_t ancestor = 0;
	int r = dise_store_route_get(st, tool, &ancestor);

	if (r < 0)
		return r;
	if (!r || !ancestor || ancestor == pruned) {
		struct dise__dag d;

		if ((r = dise__dag_load(st, tool, &d)) < 0)
			return r;
		ancestor = dise_heal_pick_ancestor(&d.g, pruned, NULL, 0);
		dise__dag_free(&d);
	}
	if (!ancestor) {
		snprintf(why, size, "no healthy ancestor to regenerate from");
		return 0;
	}
	return run_attempt(st, cfg, 0, tool, pruned, ancestor, why, size);
}
