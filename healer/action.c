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
#include <jansson.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heal.h"
#include "policy.h"
#include "record-json.h"
#include "validate.h"

static int64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct ctx {
	sqlite3 *db;
	int64_t request, version;
	char tool[256];
	int64_t t0;
};

static int journal(struct ctx *c, const char *step, const char *result, const char *detail)
{
	int64_t t = now_ns(CLOCK_MONOTONIC);
	int r = dise_sql_exec(c->db,
			 "INSERT INTO journal(wall_ns, request_id, tool, version_id, step, result, detail, duration_ns) "
			 "VALUES (?1, NULLIF(?2, 0), ?3, ?4, ?5, ?6, ?7, ?8)",
			 "iisisssi", now_ns(CLOCK_REALTIME), c->request, c->tool, c->version, step, result, detail, t - c->t0);

	c->t0 = t;
	return r;
}

/* The tool's version DAG, for policy.c. */
struct dag {
	struct dise_dag g;
	struct dise_dag_node *nodes;
	int64_t *parents;
};

static void dag_free(struct dag *d)
{
	free(d->nodes);
	free(d->parents);
	memset(d, 0, sizeof(*d));
}

static int dag_load(sqlite3 *db, const char *tool, struct dag *d)
{
	sqlite3_stmt *q;
	size_t n = 0, np = 0, cap = 0, pcap = 0, i;
	int64_t *owner = NULL;
	int r;

	memset(d, 0, sizeof(*d));
	if (sqlite3_prepare_v2(db, "SELECT id, health FROM versions WHERE tool = ?1 ORDER BY id", -1, &q, NULL) !=
	    SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(q, 1, tool, -1, SQLITE_STATIC);
	while ((r = dise_sql_step(q)) > 0) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			d->nodes = realloc(d->nodes, cap * sizeof(*d->nodes));
		}
		memset(&d->nodes[n], 0, sizeof(d->nodes[n]));
		d->nodes[n].id = sqlite3_column_int64(q, 0);
		if (dise_health_parse((const char *)sqlite3_column_text(q, 1), &d->nodes[n].health) < 0)
			d->nodes[n].health = DISE_FAILED;
		n++;
	}
	sqlite3_finalize(q);
	d->g.nodes = d->nodes;
	d->g.n = n;
	if (r < 0) /* busy: a DAG missing versions would pick the wrong ancestor */
		goto fail;
	/* edges grouped by version; a merge's parents in id order (the walk is breadth-first: nearest wins) */
	if (sqlite3_prepare_v2(db,
			       "SELECT p.version_id, p.parent_id FROM version_parents p JOIN versions v ON v.id = p.version_id "
			       "WHERE v.tool = ?1 ORDER BY p.version_id, p.parent_id",
			       -1, &q, NULL) != SQLITE_OK) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_text(q, 1, tool, -1, SQLITE_STATIC);
	while ((r = dise_sql_step(q)) > 0) {
		if (np == pcap) {
			pcap = pcap ? pcap * 2 : 16;
			d->parents = realloc(d->parents, pcap * sizeof(*d->parents));
			owner = realloc(owner, pcap * sizeof(*owner));
		}
		owner[np] = sqlite3_column_int64(q, 0);
		d->parents[np++] = sqlite3_column_int64(q, 1);
	}
	sqlite3_finalize(q);
	if (r < 0)
		goto fail;
	for (i = 0; i < np; i++) { /* rows are grouped by version: point each node at its run of parents */
		size_t k;

		for (k = 0; k < n; k++)
			if (d->nodes[k].id == owner[i]) {
				if (!d->nodes[k].nparents)
					d->nodes[k].parents = &d->parents[i];
				d->nodes[k].nparents++;
			}
	}
	free(owner);
	return 0;
fail:
	free(owner);
	dag_free(d);
	return r;
}

/* "SIGSEGV in parse_email (validator+0x1129) when run as `validator --fast x`" */
static int describe_rule(sqlite3 *db, int64_t version, char *desc, size_t size, char **ret_sig, char **ret_argv,
			 char **ret_cwd, int *ret_code, int *ret_signal)
{
	sqlite3_stmt *q;
	char what[256] = "failed", where[512] = "", how[1200] = "";
	int r = -EIO;

	*ret_sig = *ret_argv = *ret_cwd = NULL;
	*ret_code = *ret_signal = -1;
	if (sqlite3_prepare_v2(db,
			       "SELECT r.outcome, r.exit_status, r.signal, r.argv, r.cwd, c.frames, c.signature FROM runs r "
			       "LEFT JOIN crashes c ON c.run_id = r.id WHERE r.version_id = ?1 AND "
			       "dise_failed(r.outcome, r.exit_status, NULL) ORDER BY r.start_wall_ns DESC LIMIT 1",
			       -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, version);
		if ((r = dise_sql_step(q)) > 0) {
			const char *argv = (const char *)sqlite3_column_text(q, 3);
			const char *frames = (const char *)sqlite3_column_text(q, 5);

			if (sqlite3_column_type(q, 2) != SQLITE_NULL) {
				*ret_signal = sqlite3_column_int(q, 2);
				snprintf(what, sizeof(what), "%s", dise_signal_name(*ret_signal));
			} else if (sqlite3_column_type(q, 1) != SQLITE_NULL) {
				*ret_code = sqlite3_column_int(q, 1);
				snprintf(what, sizeof(what), "exit status %d", *ret_code);
			}
			if (frames) {
				json_error_t err;
				json_t *fr = json_loads(frames, 0, &err);
				size_t i;

				for (i = 0; fr && i < json_array_size(fr); i++) {
					json_t *f = json_array_get(fr, i);
					const char *fn = json_string_value(json_object_get(f, "function"));
					const char *mod = json_string_value(json_object_get(f, "module"));

					if (fn && mod) {
						const char *base = strrchr(mod, '/');

						snprintf(where, sizeof(where), " in %s (%s+0x%llx)", fn, base ? base + 1 : mod,
							 (unsigned long long)json_integer_value(json_object_get(f, "offset")));
						break;
					}
				}
				json_decref(fr);
			}
			if (argv) {
				json_error_t err;
				json_t *a = json_loads(argv, 0, &err);
				size_t i, n = 0;

				for (i = 0; a && i < json_array_size(a) && n < sizeof(how) - 64; i++) {
					const char *s = json_string_value(json_array_get(a, i));
					const char *b = i == 0 && s ? strrchr(s, '/') : NULL;

					n += (size_t)snprintf(how + n, sizeof(how) - n, "%s%s", i ? " " : "",
							      b ? b + 1 : s ? s : "");
				}
				json_decref(a);
				*ret_argv = strdup(argv);
			}
			if (sqlite3_column_text(q, 4))
				*ret_cwd = strdup((const char *)sqlite3_column_text(q, 4));
			if (sqlite3_column_text(q, 6))
				*ret_sig = strdup((const char *)sqlite3_column_text(q, 6));
		}
		sqlite3_finalize(q);
	}
	if (how[0])
		snprintf(desc, size, "%s%s when run as `%s`", what, where, how);
	else
		snprintf(desc, size, "%s%s", what, where);
	return r < 0 ? r : 0;
}

/* The avoidance rule learned from version's failures, covering scope, journaled. */
static int learn_rule(struct ctx *c, const char *reason, const struct dise_tool_policy *p, int known)
{
	const char *scope = dise_scope_name(p ? p->rule_scope : DISE_SCOPE_DESCENDANTS);
	char desc[2048], *sig, *argv, *cwd;
	int code, signo, r;

	if (known) /* the failure is an existing rule's */
		return journal(c, "rule", "skipped", "the failure matches an existing rule: nothing new to learn");
	r = describe_rule(c->db, c->version, desc, sizeof(desc), &sig, &argv, &cwd, &code, &signo);
	if (r == 0)
		r = dise_sql_exec(c->db,
			     "INSERT INTO rules(tool, source_version, description, signature, exit_code, signal, argv, cwd, "
			     "reason, scope, created_wall_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
			     "sissiissssi", c->tool, c->version, desc, sig, (int64_t)code, (int64_t)signo, argv, cwd, reason,
			     scope, now_ns(CLOCK_REALTIME));
	/* no value for exit code or signal: store NULL rather than -1 */
	if (r == 0)
		r = dise_sql_exec(c->db,
			     "UPDATE rules SET exit_code = NULLIF(exit_code, -1), signal = NULLIF(signal, -1) "
			     "WHERE id = last_insert_rowid()",
			     "");
	free(sig);
	free(argv);
	free(cwd);
	if (r == 0) {
		char detail[2100];

		snprintf(detail, sizeof(detail), "%s [scope %s]", desc, scope);
		r = journal(c, "rule", "ok", detail);
	}
	return r;
}

/*
 * The tool's policy freezes: the version is marked failed (detectors stop
 * counting it) and the rule is learned, but nothing is pruned, tainted or
 * routed: the failure stays visible in `dise health` for an operator.
 */
static int freeze_one(struct ctx *c, const char *reason, const struct dise_tool_policy *p, int known)
{
	int r = dise_sql_exec(c->db, "UPDATE versions SET health = 'failed' WHERE id = ?1", "i", c->version);

	if (r == 0)
		r = journal(c, "mark_failed", "ok", NULL);
	if (r == 0)
		r = learn_rule(c, reason, p, known);
	if (r == 0)
		r = journal(c, "freeze", "ok", "policy on_failure=freeze: nothing pruned, tainted or routed");
	if (r == 0)
		r = dise_sql_exec(c->db, "UPDATE heal_requests SET state = 'frozen' WHERE id = ?1", "i", c->request);
	return r;
}

static int ctx_tool(struct ctx *c)
{
	sqlite3_stmt *q;
	int r;

	if (sqlite3_prepare_v2(c->db, "SELECT tool FROM versions WHERE id = ?1", -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, c->version);
	if ((r = dise_sql_step(q)) > 0)
		snprintf(c->tool, sizeof(c->tool), "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	return r < 0 ? r : 0;
}

/* Whether tool policy p (may be NULL) validates candidates before routing. */
static int validates(const struct dise_tool_policy *p)
{
	return p && (p->test_command || p->replay);
}

/* The path of version's content-addressed copy (to free) in *ret_copy, NULL when it has none; 0 or -errno. */
static int version_copy(sqlite3 *db, int64_t version, char **ret_copy)
{
	sqlite3_stmt *q;
	char *copy = NULL;
	int r;

	if (sqlite3_prepare_v2(db, "SELECT cas_path FROM versions WHERE id = ?1", -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, version);
	if ((r = dise_sql_step(q)) > 0 && sqlite3_column_text(q, 0) &&
	    !(copy = strdup((const char *)sqlite3_column_text(q, 0))))
		r = -ENOMEM;
	sqlite3_finalize(q);
	if (r < 0)
		return r;
	*ret_copy = copy;
	return 0;
}

/*
 * Restore in place (policy "restore"): every path that held the pruned
 * version gets the ancestor's content back, if it still holds the pruned
 * one. Each outcome journaled; a failure leaves the route in effect.
 */
static int restore_paths(struct ctx *c, int64_t ancestor)
{
	sqlite3_stmt *q;
	int r = 0;

	if (sqlite3_prepare_v2(c->db,
			       "SELECT DISTINCT x.path, p.sha256, a.cas_path FROM versions p JOIN versions a ON a.id = ?2 "
			       "JOIN (SELECT path FROM versions WHERE id = ?1 UNION SELECT path FROM path_heads WHERE version_id = ?1) x "
			       "WHERE p.id = ?1 AND x.path IS NOT NULL AND a.cas_path IS NOT NULL",
			       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, c->version);
	sqlite3_bind_int64(q, 2, ancestor);
	while (r == 0 && (r = dise_sql_step(q)) > 0) {
		char why[9000];
		int k = dise_restore_in_place((const char *)sqlite3_column_text(q, 0), (const char *)sqlite3_column_text(q, 1),
					      (const char *)sqlite3_column_text(q, 2), why, sizeof(why));

		r = journal(c, "restore", k == 0 ? "ok" : "failed", why);
	}
	sqlite3_finalize(q);
	return r;
}

/* 4. the last healthy ancestor not in rejected, and the route T -> it; or none */
static int route_step(struct ctx *c, const int64_t *rejected, size_t nrejected, const char *validated, int restore)
{
	struct dag d;
	char detail[768];
	int64_t ancestor;
	int r = dag_load(c->db, c->tool, &d);

	if (r < 0)
		return r;
	ancestor = dise_heal_pick_ancestor(&d.g, c->version, rejected, nrejected);
	dag_free(&d);
	if (ancestor) {
		r = dise_sql_exec(c->db,
				  "INSERT INTO routes(tool, version_id, updated_wall_ns) VALUES (?1, ?2, ?3) "
				  "ON CONFLICT(tool) DO UPDATE SET version_id = excluded.version_id, updated_wall_ns = excluded.updated_wall_ns",
				  "sii", c->tool, ancestor, now_ns(CLOCK_REALTIME));
		snprintf(detail, sizeof(detail), "%s -> v%lld (%s)", c->tool, (long long)ancestor, validated);
		if (r == 0)
			r = journal(c, "route", "ok", detail);
		/* restoring copies files: after this transaction (finish_restoring), not holding the write lock */
		if (r == 0)
			r = dise_sql_exec(c->db, "UPDATE heal_requests SET state = ?2 WHERE id = ?1", "is", c->request,
					  restore ? "restoring" : "done");
	} else {
		/* route nowhere, and never to the pruned version */
		r = dise_sql_exec(c->db, "DELETE FROM routes WHERE tool = ?1", "s", c->tool);
		snprintf(detail, sizeof(detail), "no healthy ancestor%s: nothing to route to",
			 nrejected ? " passed validation" : "");
		if (r == 0)
			r = journal(c, "route", "no_ancestor", detail);
		if (r == 0)
			r = dise_sql_exec(c->db, "UPDATE heal_requests SET state = 'no_ancestor' WHERE id = ?1", "i",
					  c->request);
	}
	return r;
}

/*
 * Validates candidates nearest first, outside any transaction (a test may
 * take a minute; ingest goes on meanwhile), each verdict journaled. Fills
 * rejected (room for max) with the candidates that failed. Returns how many,
 * or -errno.
 */
static int validate_candidates(struct ctx *c, const struct dise_tool_policy *p, int64_t *rejected, size_t max)
{
	size_t n = 0;

	while (n < max) {
		char why[1024] = "", cand[64];
		char *copy;
		int64_t a;
		struct dag d;
		int r = dag_load(c->db, c->tool, &d), bad = 0;

		if (r < 0)
			return r;
		a = dise_heal_pick_ancestor(&d.g, c->version, rejected, n);
		dag_free(&d);
		if (!a)
			break;
		if ((r = version_copy(c->db, a, &copy)) < 0) /* busy: not a verdict on the candidate */
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
			journal(c, "validate_test", bad ? "rejected" : "ok", why);
		}
		if (!bad && p->replay) {
			r = dise_validate_rules(c->db, c->tool, 0, copy, (unsigned)p->test_timeout_s * 1000u,
						why + strlen(cand), sizeof(why) - strlen(cand));
			memcpy(why, cand, strlen(cand));
			bad = r != 0;
			if (r < 0)
				snprintf(why, sizeof(why), "%sa rule could not be replayed: %s", cand, strerror(-r));
			journal(c, "validate_rules", bad ? "rejected" : "ok", why);
		} else if (!copy) {
			journal(c, "validate", "rejected", why);
		}
		free(copy);
		if (!bad)
			break;
		rejected[n++] = a;
	}
	return (int)n;
}

static int heal_one(sqlite3 *db, const struct dise_config *cfg, int64_t request, int64_t version, int64_t failure)
{
	struct ctx c = { db, request, version, "", now_ns(CLOCK_MONOTONIC) };
	const struct dise_tool_policy *p;
	struct dag d;
	char detail[512], reason[1024] = "";
	int64_t *desc_ids = NULL;
	size_t n, i, tainted = 0;
	int r, known = 0;
	sqlite3_stmt *q;

	if ((r = ctx_tool(&c)) < 0)
		return r;
	p = dise_config_tool(cfg, c.tool);
	if (sqlite3_prepare_v2(db, "SELECT detector || ': ' || description, detector = 'rule' FROM failures WHERE id = ?1",
			       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, failure);
	if ((r = dise_sql_step(q)) > 0) {
		snprintf(reason, sizeof(reason), "%s", (const char *)sqlite3_column_text(q, 0));
		known = sqlite3_column_int(q, 1); /* a rule's failure: that rule exists, nothing new to learn */
	}
	sqlite3_finalize(q);
	if (r < 0)
		return r;
	r = journal(&c, "start", "ok", reason);

	if (r == 0 && p && p->freeze)
		return freeze_one(&c, reason, p, known);

	/* 1. failed, then pruned: kept with all its history */
	if (r == 0)
		r = dise_sql_exec(db, "UPDATE versions SET health = 'failed' WHERE id = ?1", "i", version);
	if (r == 0)
		r = journal(&c, "mark_failed", "ok", NULL);
	if (r == 0)
		r = dise_sql_exec(db, "UPDATE versions SET health = 'pruned' WHERE id = ?1", "i", version);
	if (r == 0)
		r = journal(&c, "prune", "ok", NULL);

	/* 2. taint the healthy descendants */
	if (r == 0)
		r = dag_load(db, c.tool, &d);
	if (r < 0)
		return r;
	desc_ids = calloc(d.g.n + 1, sizeof(*desc_ids));
	n = desc_ids ? dise_heal_descendants(&d.g, version, desc_ids) : 0;
	for (i = 0; r == 0 && i < n; i++) {
		r = dise_sql_exec(db, "UPDATE versions SET health = 'degraded', tainted_by = ?2 WHERE id = ?1 AND health = 'healthy'",
			     "ii", desc_ids[i], version);
		tainted += (size_t)sqlite3_changes(db);
	}
	free(desc_ids);
	dag_free(&d);
	snprintf(detail, sizeof(detail), "%zu of %zu descendants degraded", tainted, n);
	if (r == 0)
		r = journal(&c, "taint", "ok", detail);

	/* 3. the rule */
	if (r == 0)
		r = learn_rule(&c, reason, p, known);

	/* 4. the route: at once, or after validating candidates outside this transaction */
	if (r == 0 && validates(p)) {
		r = dise_sql_exec(db, "UPDATE heal_requests SET state = 'validating' WHERE id = ?1", "i", request);
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
	struct ctx c = { dise_store_db(st), request, version, "", now_ns(CLOCK_MONOTONIC) };
	sqlite3_stmt *q;
	int64_t ancestor = 0;
	int r = ctx_tool(&c);

	if (r == 0 && sqlite3_prepare_v2(c.db, "SELECT version_id FROM routes WHERE tool = ?1", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, c.tool, -1, SQLITE_TRANSIENT);
		if ((r = dise_sql_step(q)) > 0)
			ancestor = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
		r = r < 0 ? r : 0;
	}
	if (r == 0 && ancestor)
		r = restore_paths(&c, ancestor);
	if (r == 0)
		r = dise_sql_exec(c.db, "UPDATE heal_requests SET state = 'done' WHERE id = ?1", "i", request);
	return r;
}

/* The second half of a request left 'validating': candidates validated, then the route, in its own transaction. */
static int finish_validating(dise_store *st, const struct dise_config *cfg, int64_t request, int64_t version)
{
	struct ctx c = { dise_store_db(st), request, version, "", now_ns(CLOCK_MONOTONIC) };
	const struct dise_tool_policy *p;
	int64_t rejected[32];
	int n = 0, r = ctx_tool(&c);

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

/* Records rule_checks(rule, version) = result, detail. */
static int rule_check(sqlite3 *db, int64_t rule, int64_t version, const char *result, const char *detail)
{
	return dise_sql_exec(db,
			     "INSERT OR REPLACE INTO rule_checks(rule_id, version_id, result, detail, wall_ns) "
			     "VALUES (?1, ?2, ?3, ?4, ?5)",
			     "iissi", rule, version, result, detail, now_ns(CLOCK_REALTIME));
}

/*
 * Version c->version fails rule (desc says how): recorded as failed in
 * rule_checks, a failure of detector 'rule', and a heal request, so that the
 * healing cycle prunes it (never routed to, its runs routed away), taints
 * what is below it and routes the tool to its last healthy ancestor (which
 * replaces a route that led to the version). In the caller's transaction.
 */
static int rule_failed(struct ctx *c, int64_t rule, const char *step, const char *desc)
{
	int r = rule_check(c->db, rule, c->version, "failed", desc);

	if (r == 0)
		r = dise_sql_exec(c->db,
				  "INSERT INTO failures(version_id, detector, description, severity, signature, created_wall_ns) "
				  "SELECT ?1, 'rule', ?2, 'high', signature, ?3 FROM rules WHERE id = ?4",
				  "isii", c->version, desc, now_ns(CLOCK_REALTIME), rule);
	if (r == 0)
		r = dise_sql_exec(c->db,
				  "INSERT OR IGNORE INTO heal_requests(version_id, failure_id, created_wall_ns) "
				  "VALUES (?1, last_insert_rowid(), ?2)",
				  "ii", c->version, now_ns(CLOCK_REALTIME));
	if (r == 0)
		r = journal(c, step, "failed", desc);
	return r;
}

/* A replay of rule failed version c->version the same way (why): refused, in a transaction of its own. */
static int refuse(dise_store *st, struct ctx *c, int64_t rule, const char *why)
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
static int rule_covers(sqlite3 *db, const char *scope, const char *rtool, int64_t source, const char *vtool, int64_t v)
{
	struct dag d;
	int64_t *desc;
	size_t nd, k;
	int covered = 0, r, s = dise_scope_from_name(scope);

	if (s == DISE_SCOPE_GLOBAL)
		return 1;
	if (strcmp(rtool, vtool))
		return 0;
	if (s == DISE_SCOPE_ALL_SIMILAR)
		return 1;
	if ((r = dag_load(db, rtool, &d)) < 0)
		return r;
	desc = calloc(d.g.n + 1, sizeof(*desc));
	r = desc ? 0 : -ENOMEM;
	nd = desc ? dise_heal_descendants(&d.g, source, desc) : 0;
	for (k = 0; k < nd; k++)
		covered |= desc[k] == v;
	free(desc);
	dag_free(&d);
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
	sqlite3 *db = dise_store_db(st);
	sqlite3_stmt *q;
	int64_t m[64][3];
	int n = 0, i, r = 0, queued = 0;

	/*
	 * (rule, version, run): only pairs already found covered, versions not
	 * failed yet, runs of the detectors' window. Crash rules start from the
	 * crashes with their signature (an index; CROSS JOIN keeps that order),
	 * so their cost follows the crashes that match, not the runs; exit
	 * status rules look at the failed runs of each covered version in the
	 * window (an index range per version).
	 */
	if (sqlite3_prepare_v2(db,
			       "SELECT rule, version, MAX(run) FROM ("
			       "SELECT ru.id AS rule, x.version_id AS version, x.id AS run FROM rules ru "
			       "CROSS JOIN crashes c ON c.signature = ru.signature CROSS JOIN runs x ON x.id = c.run_id "
			       "WHERE ru.signature IS NOT NULL AND x.start_wall_ns >= ?1 "
			       "UNION ALL "
			       "SELECT ru.id, k.version_id, x.id FROM rules ru CROSS JOIN rule_checks k ON k.rule_id = ru.id "
			       "CROSS JOIN runs x ON x.version_id = k.version_id AND x.start_wall_ns >= ?1 "
			       "WHERE ru.signature IS NULL AND ru.exit_code IS NOT NULL AND ru.argv IS NOT NULL "
			       "AND x.outcome = 'fail' AND x.exit_status = ru.exit_code AND x.argv = ru.argv) m "
			       "WHERE EXISTS (SELECT 1 FROM rule_checks k WHERE k.rule_id = m.rule AND k.version_id = m.version "
			       "AND k.result IN ('covered', 'passed')) "
			       "AND EXISTS (SELECT 1 FROM versions v WHERE v.id = m.version AND v.health IN ('healthy', 'degraded')) "
			       "AND NOT EXISTS (SELECT 1 FROM heal_requests h WHERE h.version_id = m.version "
			       "AND h.state IN ('queued', 'validating')) GROUP BY rule, version ORDER BY rule, version LIMIT 64",
			       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, since_wall_ns);
	while (n < 64 && (r = dise_sql_step(q)) > 0) {
		m[n][0] = sqlite3_column_int64(q, 0);
		m[n][1] = sqlite3_column_int64(q, 1);
		m[n][2] = sqlite3_column_int64(q, 2);
		n++;
	}
	sqlite3_finalize(q);
	if (r < 0 || n == 0)
		return r;
	if ((r = dise_store_begin(st)) < 0)
		return r;
	for (i = 0; r == 0 && i < n; i++) {
		struct ctx c = { db, 0, m[i][1], "", now_ns(CLOCK_MONOTONIC) };
		char desc[1200] = "";

		if ((r = ctx_tool(&c)) < 0)
			break;
		if (sqlite3_prepare_v2(db, "SELECT description FROM rules WHERE id = ?1", -1, &q, NULL) != SQLITE_OK) {
			r = -EIO;
			break;
		}
		sqlite3_bind_int64(q, 1, m[i][0]);
		if ((r = dise_sql_step(q)) > 0)
			snprintf(desc, sizeof(desc), "run %lld failed the way rule %lld describes: %s", (long long)m[i][2],
				 (long long)m[i][0], (const char *)sqlite3_column_text(q, 0));
		sqlite3_finalize(q);
		if (r < 0)
			break;
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
	sqlite3 *db = dise_store_db(st);
	sqlite3_stmt *q;
	struct todo {
		int64_t rule, version, source;
		int replayable;
		char tool[256], vtool[256], scope[16];
	} *t = calloc(256, sizeof(*t));
	size_t n = 0, i;
	int r = 0, refused = 0, in_tx = 0;

	if (!t)
		return -ENOMEM;
	/* the pairs (rule, version it may cover) not looked at yet; versions already failed or pruned wait */
	if (sqlite3_prepare_v2(db,
			       "SELECT r.id, v.id, r.source_version, r.tool, v.tool, r.scope, "
			       "r.argv IS NOT NULL AND (r.signal IS NOT NULL OR r.exit_code IS NOT NULL) "
			       "FROM rules r JOIN versions v ON (v.tool = r.tool OR r.scope = 'global') "
			       "AND v.id != r.source_version AND v.health IN ('healthy', 'degraded') "
			       "WHERE NOT EXISTS (SELECT 1 FROM rule_checks c WHERE c.rule_id = r.id AND c.version_id = v.id) "
			       "ORDER BY r.id, v.id LIMIT 256",
			       -1, &q, NULL) != SQLITE_OK) {
		free(t);
		return -EIO;
	}
	while (n < 256 && (r = dise_sql_step(q)) > 0) {
		t[n].rule = sqlite3_column_int64(q, 0);
		t[n].version = sqlite3_column_int64(q, 1);
		t[n].source = sqlite3_column_int64(q, 2);
		snprintf(t[n].tool, sizeof(t[n].tool), "%s", (const char *)sqlite3_column_text(q, 3));
		snprintf(t[n].vtool, sizeof(t[n].vtool), "%s", (const char *)sqlite3_column_text(q, 4));
		snprintf(t[n].scope, sizeof(t[n].scope), "%s", (const char *)sqlite3_column_text(q, 5));
		t[n].replayable = sqlite3_column_int(q, 6);
		n++;
	}
	sqlite3_finalize(q);
	if (r > 0)
		r = 0;
	for (i = 0; r == 0 && i < n; i++) {
		const struct dise_tool_policy *p = dise_config_tool(cfg, t[i].tool);
		struct ctx c = { db, 0, t[i].version, "", now_ns(CLOCK_MONOTONIC) };
		char why[1024], *copy = NULL;
		int covered;

		if (!in_tx && (r = dise_store_begin(st)) < 0) /* the quick verdicts: one commit for all */
			break;
		in_tx = 1;
		if ((covered = rule_covers(db, t[i].scope, t[i].tool, t[i].source, t[i].vtool, t[i].version)) < 0) {
			r = covered;
			break;
		}
		if (!covered) {
			r = rule_check(db, t[i].rule, t[i].version, "not_covered", NULL);
			continue;
		}
		if (!t[i].replayable) {
			r = rule_check(db, t[i].rule, t[i].version, "covered", "nothing to replay");
			continue;
		}
		if (strcmp(t[i].tool, t[i].vtool)) {
			snprintf(why, sizeof(why), "not replayed: the invocation is of tool %s; its crash signature is watched",
				 t[i].tool);
			r = rule_check(db, t[i].rule, t[i].version, "covered", why);
			continue;
		}
		if (!p || !p->replay) {
			r = rule_check(db, t[i].rule, t[i].version, "covered", "not replayed: the tool's policy has no replay");
			continue;
		}
		if ((r = version_copy(db, t[i].version, &copy)) < 0)
			break;
		if (!copy) {
			r = rule_check(db, t[i].rule, t[i].version, "covered", "not replayed: no copy of the version to run");
			continue;
		}
		/* a replay may take long: outside any transaction */
		in_tx = 0;
		if ((r = dise_store_commit(st)) < 0) {
			free(copy);
			break;
		}
		r = dise_validate_rules(db, t[i].tool, t[i].rule, copy, (unsigned)p->test_timeout_s * 1000u, why,
					sizeof(why));
		free(copy);
		if (r < 0) {
			snprintf(why, sizeof(why), "not replayed: %s", strerror(-r));
			r = rule_check(db, t[i].rule, t[i].version, "covered", why);
		} else if (r == 0) {
			r = rule_check(db, t[i].rule, t[i].version, "passed", why);
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
	if (r == 0 && (r = match_observed(st, now_ns(CLOCK_REALTIME) -
						  (cfg ? cfg->detect.window_ns : (int64_t)3600 * 1000000000))) > 0)
		refused += r;
	return r < 0 ? r : refused;
}

/* Whether request was left 'restoring' by the step that routed it. */
static int restoring(sqlite3 *db, int64_t request)
{
	sqlite3_stmt *q;
	int yes = 0, r;

	if (sqlite3_prepare_v2(db, "SELECT state = 'restoring' FROM heal_requests WHERE id = ?1", -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, request);
	if ((r = dise_sql_step(q)) > 0)
		yes = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return r < 0 ? r : yes;
}

int dise_heal_pending(dise_store *st, const struct dise_config *cfg)
{
	sqlite3 *db = dise_store_db(st);
	sqlite3_stmt *q;
	int64_t req[64][4];
	int n = 0, i, r = 0, done = 0;

	/* 'validating', 'restoring': a collector stopped between the halves; go on where it stood */
	if (sqlite3_prepare_v2(db,
			       "SELECT id, version_id, failure_id, CASE state WHEN 'validating' THEN 1 WHEN 'restoring' "
			       "THEN 2 ELSE 0 END FROM heal_requests "
			       "WHERE state IN ('queued', 'validating', 'restoring') ORDER BY id LIMIT 64",
			       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	while (n < 64 && (r = dise_sql_step(q)) > 0) {
		req[n][0] = sqlite3_column_int64(q, 0);
		req[n][1] = sqlite3_column_int64(q, 1);
		req[n][2] = sqlite3_column_int64(q, 2);
		req[n][3] = sqlite3_column_int64(q, 3);
		n++;
	}
	sqlite3_finalize(q);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++) {
		if (req[i][3] == 2) {
			if ((r = finish_restoring(st, req[i][0], req[i][1])) < 0)
				return r;
			done++;
			continue;
		}
		r = req[i][3] ? 1 : dise_store_begin(st);
		if (r == 0) {
			r = heal_one(db, cfg, req[i][0], req[i][1], req[i][2]);
			int k = r >= 0 ? dise_store_commit(st) : 0;

			if (k < 0)
				r = k;
		}
		if (r < 0) {
			dise_store_rollback(st);
			return r;
		}
		if (r == 1 && (r = finish_validating(st, cfg, req[i][0], req[i][1])) < 0)
			return r;
		if ((r = restoring(db, req[i][0])) < 0)
			return r;
		if (r && (r = finish_restoring(st, req[i][0], req[i][1])) < 0)
			return r;
		done++;
	}
	return done;
}

int dise_heal_now(dise_store *st, const struct dise_config *cfg, int64_t version_id)
{
	sqlite3 *db = dise_store_db(st);
	int r = dise_store_begin(st);

	if (r == 0)
		r = dise_sql_exec(db,
			     "INSERT INTO failures(version_id, detector, description, severity, created_wall_ns) "
			     "VALUES (?1, 'manual', 'healing asked by hand (dise heal)', 'high', ?2)",
			     "ii", version_id, now_ns(CLOCK_REALTIME));
	if (r == 0)
		r = dise_sql_exec(db,
			     "INSERT OR IGNORE INTO heal_requests(version_id, failure_id, created_wall_ns) "
			     "VALUES (?1, last_insert_rowid(), ?2)",
			     "ii", version_id, now_ns(CLOCK_REALTIME));
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
	sqlite3 *db = dise_store_db(st);
	struct ctx c = { db, 0, version_id, "", now_ns(CLOCK_MONOTONIC) };
	char detail[768];
	sqlite3_stmt *q;
	int r;

	if (sqlite3_prepare_v2(db, "SELECT tool FROM versions WHERE id = ?1", -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, version_id);
	if ((r = dise_sql_step(q)) > 0)
		snprintf(c.tool, sizeof(c.tool), "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	if (r < 0)
		return r;
	if (!c.tool[0])
		return -ENOENT;
	r = dise_store_begin(st);
	if (r == 0)
		r = dise_sql_exec(db, "UPDATE versions SET health = 'healthy', reset_wall_ns = ?2 WHERE id = ?1", "ii",
				  version_id, now_ns(CLOCK_REALTIME));
	if (r == 0)
		r = dise_sql_exec(db, "UPDATE versions SET health = 'healthy', tainted_by = NULL WHERE tainted_by = ?1", "i",
				  version_id);
	if (r == 0)
		r = dise_sql_exec(db, "UPDATE heal_requests SET state = 'reset' WHERE version_id = ?1 AND state = 'queued'",
				  "i", version_id);
	if (r == 0)
		r = dise_sql_exec(db, "DELETE FROM routes WHERE tool = ?1", "s", c.tool);
	snprintf(detail, sizeof(detail), "by %s: %s", who, why && why[0] ? why : "(no reason given)");
	if (r == 0)
		r = journal(&c, "reset", "ok", detail);
	if (r == 0)
		r = dise_store_commit(st);
	else
		dise_store_rollback(st);
	return r;
}
