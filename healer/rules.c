/* SPDX-License-Identifier: MIT */
/*
 * The rules healing learns and what it does with them (the cycle itself is
 * action.c). A rule is learned from a pruned version's failure: a readable
 * description, the crash signature or exit status, the failing invocation,
 * the reason and its scope (descendants, all_similar, global). Every
 * version a rule covers is checked once (rule_checks): not covered,
 * covered (watched: a covered version seen failing that way is healed at
 * once, no three strikes), passed or failed a replay; a failed replay
 * refuses the version (a heal request of detector 'rule').
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heal-internal.h"
#include "record-json.h"
#include "validate.h"

/* "SIGSEGV in parse_email (validator+0x1129) when run as `validator --fast x`" */
static int describe_rule(dise_store *st, int64_t version, char *desc, size_t size, struct dise_failed_run *f)
{
	char what[256] = "failed", where[512] = "", how[1200] = "";
	int r = dise_store_last_failed_run(st, version, f);

	if (r > 0) {
		if (f->signal >= 0) {
			snprintf(what, sizeof(what), "%s", dise_signal_name(f->signal));
		} else if (f->exit_status >= 0) {
			snprintf(what, sizeof(what), "exit status %d", f->exit_status);
		}
		if (f->frames) {
			json_error_t err;
			json_t *fr = json_loads(f->frames, 0, &err);
			size_t i;

			for (i = 0; fr && i < json_array_size(fr); i++) {
				json_t *o = json_array_get(fr, i);
				const char *fn = json_string_value(json_object_get(o, "function"));
				const char *mod = json_string_value(json_object_get(o, "module"));

				if (fn && mod) {
					const char *base = strrchr(mod, '/');

					snprintf(where, sizeof(where), " in %s (%s+0x%llx)", fn, base ? base + 1 : mod,
						 (unsigned long long)json_integer_value(json_object_get(o, "offset")));
					break;
				}
			}
			json_decref(fr);
		}
		if (f->argv) {
			json_error_t err;
			json_t *a = json_loads(f->argv, 0, &err);
			size_t i, n = 0;

			for (i = 0; a && i < json_array_size(a) && n < sizeof(how) - 64; i++) {
				char *s = dise_json_text_bytes(json_array_get(a, i));
				const char *b = i == 0 && s ? strrchr(s, '/') : NULL;

				n += (size_t)snprintf(how + n, sizeof(how) - n, "%s%s", i ? " " : "", b ? b + 1 : s ? s : "");
				free(s);
			}
			json_decref(a);
		}
	}
	if (how[0])
		snprintf(desc, size, "%s%s when run as `%s`", what, where, how);
	else
		snprintf(desc, size, "%s%s", what, where);
	return r < 0 ? r : 0;
}

/* The avoidance rule learned from version's failures, covering scope, journaled. */
int dise__learn_rule(struct dise__ctx *c, const char *reason, const struct dise_tool_policy *p, int known)
{
	enum dise_scope scope = p ? p->rule_scope : DISE_SCOPE_DESCENDANTS;
	struct dise_failed_run f;
	char desc[2048];
	int r;

	if (known) /* the failure is an existing rule's */
		return dise__journal(c, "rule", "skipped", "the failure matches an existing rule: nothing new to learn");
	r = describe_rule(c->st, c->version, desc, sizeof(desc), &f);
	if (r == 0)
		r = dise_store_rule_add(c->st, c->tool, c->version, desc, f.signature, f.exit_status, f.signal, f.argv, f.cwd,
					reason, scope, dise__now_ns(CLOCK_REALTIME));
	dise_failed_run_free(&f);
	if (r == 0) {
		char detail[2100];

		snprintf(detail, sizeof(detail), "%s [scope %s]", desc, dise_scope_name(scope));
		r = dise__journal(c, "rule", "ok", detail);
	}
	return r;
}

/* Records rule_checks(rule, version) = result, detail. */
static int rule_check(dise_store *st, int64_t rule, int64_t version, enum dise_check result, const char *detail)
{
	return dise_store_rule_check_set(st, rule, version, result, detail, dise__now_ns(CLOCK_REALTIME));
}

/*
 * Version c->version fails rule (desc says how): recorded as failed in
 * rule_checks, a failure of detector 'rule', and a heal request, so that the
 * healing cycle prunes it (never routed to, its runs routed away), taints
 * what is below it and routes the tool to its last healthy ancestor (which
 * replaces a route that led to the version). In the caller's transaction.
 */
static int rule_failed(struct dise__ctx *c, int64_t rule, const char *step, const char *desc)
{
	int r = rule_check(c->st, rule, c->version, DISE_CHECK_FAILED, desc);

	if (r == 0)
		r = dise_store_heal_request_add(c->st, c->version, DISE_DETECT_RULE, desc, rule, dise__now_ns(CLOCK_REALTIME));
	if (r == 0)
		r = dise__journal(c, step, "failed", desc);
	return r;
}

/* A replay of rule failed version c->version the same way (why): refused, in a transaction of its own. */
static int refuse(dise_store *st, struct dise__ctx *c, int64_t rule, const char *why)
{
	char desc[1200];
	int r;

	snprintf(desc, sizeof(desc), "replayed rule %lld %s", (long long)rule, why);
	if ((r = dise_store_begin(st)) < 0)
		return r;
	r = rule_failed(c, rule, "rule_refused", desc);
	if (r == 0)
		r = dise_store_commit(st);
	else
		dise_store_rollback(st);
	return r;
}

/*
 * Whether a rule of tool rtool learned from version source with scope covers
 * version v of tool vtool: global, every version of every tool; all_similar,
 * every version of its tool; descendants, the versions below source.
 * Returns 1, 0, or -errno.
 */
static int rule_covers(dise_store *st, enum dise_scope scope, const char *rtool, int64_t source, const char *vtool,
		       int64_t v)
{
	struct dise__dag d;
	int64_t *desc;
	size_t nd, k;
	int covered = 0, r;

	if (scope == DISE_SCOPE_GLOBAL)
		return 1;
	if (strcmp(rtool, vtool))
		return 0;
	if (scope == DISE_SCOPE_ALL_SIMILAR)
		return 1;
	if ((r = dise__dag_load(st, rtool, &d)) < 0)
		return r;
	desc = calloc(d.g.n + 1, sizeof(*desc));
	r = desc ? 0 : -ENOMEM;
	nd = desc ? dise_heal_descendants(&d.g, source, desc) : 0;
	for (k = 0; k < nd; k++)
		covered |= desc[k] == v;
	free(desc);
	dise__dag_free(&d);
	return r < 0 ? r : covered;
}

/*
 * A covered version seen failing the way a rule describes (the same crash
 * signature; or the same exit status for the same argv) needs no three
 * strikes: the failure is known. It is queued for healing at once, with a
 * failure of detector 'rule'. Returns the number queued, or -errno.
 */
static int match_observed(dise_store *st, int64_t since_wall_ns)
{
	int64_t m[64][3];
	int n, i, r, queued = 0;

	n = dise_store_rule_matches(st, since_wall_ns, m, 64);
	if (n <= 0)
		return n;
	if ((r = dise_store_begin(st)) < 0)
		return r;
	for (i = 0; r == 0 && i < n; i++) {
		struct dise__ctx c = { st, 0, m[i][1], "", dise__now_ns(CLOCK_MONOTONIC) };
		char rule[1024] = "", desc[1200];

		if ((r = dise__ctx_tool(&c)) < 0 || (r = dise_store_rule_description(st, m[i][0], rule, sizeof(rule))) < 0)
			break;
		desc[0] = '\0';
		if (r > 0)
			snprintf(desc, sizeof(desc), "run %lld failed the way rule %lld describes: %s", (long long)m[i][2],
				 (long long)m[i][0], rule);
		r = rule_failed(&c, m[i][0], "rule_matched", desc);
		queued++;
	}
	if (r == 0)
		r = dise_store_commit(st);
	else
		dise_store_rollback(st);
	return r < 0 ? r : queued;
}

int dise_heal_check_rules(dise_store *st, const struct dise_config *cfg)
{
	/* grown by the pairs there are: most passes find none (256 pairs of two paths were 2 MiB, an mmap a pass) */
	struct dise_rule_pair *t = NULL;
	size_t cap = 0;
	int n, i, r = 0, refused = 0, in_tx = 0;

	n = dise_store_rule_pairs(st, &t, &cap, 256);
	if (n < 0)
		r = n;
	for (i = 0; r == 0 && i < n; i++) {
		const struct dise_tool_policy *p = dise_config_tool(cfg, t[i].tool);
		struct dise__ctx c = { st, 0, t[i].version, "", dise__now_ns(CLOCK_MONOTONIC) };
		char why[1024], *copy = NULL;
		int covered;

		if (!in_tx && (r = dise_store_begin(st)) < 0) /* the quick verdicts: one commit for all */
			break;
		in_tx = 1;
		if ((covered = rule_covers(st, t[i].scope, t[i].tool, t[i].source, t[i].vtool, t[i].version)) < 0) {
			r = covered;
			break;
		}
		if (!covered) {
			r = rule_check(st, t[i].rule, t[i].version, DISE_CHECK_NOT_COVERED, NULL);
			continue;
		}
		if (!t[i].replayable) {
			r = rule_check(st, t[i].rule, t[i].version, DISE_CHECK_COVERED, "nothing to replay");
			continue;
		}
		if (strcmp(t[i].tool, t[i].vtool)) {
			snprintf(why, sizeof(why), "not replayed: the invocation is of tool %.900s; its crash signature is watched",
				 t[i].tool);
			r = rule_check(st, t[i].rule, t[i].version, DISE_CHECK_COVERED, why);
			continue;
		}
		if (!p || !p->replay) {
			r = rule_check(st, t[i].rule, t[i].version, DISE_CHECK_COVERED,
				       "not replayed: the tool's policy has no replay");
			continue;
		}
		if ((r = dise_store_version_copy(st, t[i].version, &copy)) < 0)
			break;
		if (!copy) {
			r = rule_check(st, t[i].rule, t[i].version, DISE_CHECK_COVERED,
				       "not replayed: no copy of the version to run");
			continue;
		}
		/* a replay may take long: outside any transaction */
		in_tx = 0;
		if ((r = dise_store_commit(st)) < 0) {
			free(copy);
			break;
		}
		r = dise_validate_rules(st, t[i].tool, t[i].rule, copy, (unsigned)p->test_timeout_s * 1000u, why,
					sizeof(why));
		free(copy);
		if (r < 0) {
			snprintf(why, sizeof(why), "not replayed: %s", strerror(-r));
			r = rule_check(st, t[i].rule, t[i].version, DISE_CHECK_COVERED, why);
		} else if (r == 0) {
			r = rule_check(st, t[i].rule, t[i].version, DISE_CHECK_PASSED, why);
		} else {
			snprintf(c.tool, sizeof(c.tool), "%s", t[i].tool);
			r = refuse(st, &c, t[i].rule, why);
			refused++;
		}
	}
	if (in_tx) {
		if (r == 0)
			r = dise_store_commit(st);
		else
			dise_store_rollback(st);
	}
	free(t);
	/* runs as old as the detectors look at (no config: their default hour) */
	if (r == 0 && (r = match_observed(st, dise__now_ns(CLOCK_REALTIME) -
						  (cfg ? cfg->detect.window_ns : (int64_t)3600 * 1000000000))) > 0)
		refused += r;
	return r < 0 ? r : refused;
}

