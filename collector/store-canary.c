/* SPDX-License-Identifier: MIT */
/* The SQL of canary rollouts (collector/canary.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canary.h"
#include "store-internal.h"

int dise_store_tx_open(dise_store *st)
{
	int r;

	if (st->in_tx)
		return 0;
	r = dise_store_begin(st);
	return r < 0 ? r : 1;
}

int dise_store_tx_close(dise_store *st, int began, int r)
{
	if (began <= 0)
		return r;
	if (r >= 0 && (r = dise_store_commit(st)) == 0)
		return 0;
	dise_store_rollback(st);
	return r;
}

int dise_store_canary_start(dise_store *st, const char *tool, int64_t stable, int64_t canary, int weight,
			    int64_t wall_ns)
{
	static const char sql[] = "INSERT OR IGNORE INTO canaries(tool, stable_id, canary_id, step, weight, state, "
				  "started_wall_ns, step_wall_ns) VALUES (?1, ?2, ?3, 0, ?4, 'running', ?5, ?5)";
	static const char changes[] = "SELECT changes()";
	int64_t n = 0;
	int r = dise__exec(st, sql, "siidi", tool, stable, canary, weight, wall_ns);

	if (r < 0)
		return r;
	r = dise__int(st, changes, &n, "");
	return r < 0 ? r : n > 0;
}

#define CANARY_COLUMNS                                                                                              \
	"k.id, k.tool, k.stable_id, k.canary_id, k.step, k.weight, k.state, k.started_wall_ns, k.step_wall_ns, "  \
	"k.ended_wall_ns, k.verdict, COALESCE(s.label, 'v' || k.stable_id), COALESCE(c.label, 'v' || k.canary_id), " \
	"EXISTS (SELECT 1 FROM mutations m WHERE m.version_id = k.canary_id) "                                      \
	"FROM canaries k LEFT JOIN versions s ON s.id = k.stable_id LEFT JOIN versions c ON c.id = k.canary_id "

static int canary_rows(sqlite3_stmt *q, struct dise_canary **ret, size_t *ret_n)
{
	struct dise_canary *c = NULL;
	size_t n = 0, cap = 0;
	int r;

	if (!q)
		return -EIO;
	while ((r = dise__step(q)) > 0) {
		struct dise_canary *x;

		if ((r = dise__grow((void **)&c, &cap, n, sizeof(*c))) < 0)
			break;
		x = &c[n++];
		memset(x, 0, sizeof(*x));
		x->id = sqlite3_column_int64(q, 0);
		x->tool = dise__col_strdup(q, 1);
		x->stable = sqlite3_column_int64(q, 2);
		x->canary = sqlite3_column_int64(q, 3);
		x->step = sqlite3_column_int(q, 4);
		x->weight = sqlite3_column_int(q, 5);
		snprintf(x->state, sizeof(x->state), "%s", (const char *)sqlite3_column_text(q, 6));
		x->started_wall_ns = sqlite3_column_int64(q, 7);
		x->step_wall_ns = sqlite3_column_int64(q, 8);
		x->ended_wall_ns = sqlite3_column_int64(q, 9);
		x->verdict = dise__col_strdup(q, 10);
		x->stable_label = dise__col_strdup(q, 11);
		x->canary_label = dise__col_strdup(q, 12);
		x->regenerated = sqlite3_column_int(q, 13);
		if (!x->tool || !x->stable_label || !x->canary_label) {
			r = -ENOMEM;
			break;
		}
	}
	dise__done(q);
	if (r < 0) {
		dise_canaries_free(c, n);
		return r;
	}
	*ret = c;
	*ret_n = n;
	return 0;
}

int dise_store_canaries(dise_store *st, int running_only, struct dise_canary **ret, size_t *ret_n)
{
	static const char all[] = "SELECT " CANARY_COLUMNS "ORDER BY k.id DESC";
	static const char running[] = "SELECT " CANARY_COLUMNS "WHERE k.state = 'running' ORDER BY k.id DESC";

	return canary_rows(dise__stmt(st, running_only ? running : all), ret, ret_n);
}

int dise_store_canary_of(dise_store *st, const char *tool, struct dise_canary *ret)
{
	static const char sql[] = "SELECT " CANARY_COLUMNS "WHERE k.state = 'running' AND k.tool = ?1";
	sqlite3_stmt *q = dise__stmt(st, sql);
	struct dise_canary *c = NULL;
	size_t n = 0;
	int r;

	if (!q || dise__bind(q, "s", tool) < 0) {
		dise__done(q);
		return -EIO;
	}
	r = canary_rows(q, &c, &n);
	if (r < 0)
		return r;
	if (n)
		*ret = c[0];
	free(c);
	return n > 0;
}

void dise_canary_clear(struct dise_canary *c)
{
	free(c->tool);
	free(c->stable_label);
	free(c->canary_label);
	free(c->verdict);
	memset(c, 0, sizeof(*c));
}

void dise_canaries_free(struct dise_canary *c, size_t n)
{
	size_t i;

	for (i = 0; c && i < n; i++)
		dise_canary_clear(&c[i]);
	free(c);
}

int dise_store_arm_stats(dise_store *st, int64_t version, int64_t since_wall_ns, struct dise_arm_stats *ret)
{
	/* ended runs that ran the version (not the START of a canary file that executed the stable one) */
	static const char count[] = "SELECT count(*) * 4294967296 + sum(outcome IN ('fail', 'crash')) FROM runs "
				    "WHERE version_id = ?1 AND start_wall_ns >= ?2 AND outcome IN ('ok', 'fail', 'crash')";
	static const char median[] = "SELECT end_ns - start_ns FROM runs WHERE version_id = ?1 AND start_wall_ns >= ?2 "
				     "AND outcome IN ('ok', 'fail', 'crash') AND end_ns IS NOT NULL ORDER BY 1 "
				     "LIMIT 1 OFFSET ?3";
	int64_t v = 0;
	int r = dise__int(st, count, &v, "ii", version, since_wall_ns);

	memset(ret, 0, sizeof(*ret));
	if (r < 0)
		return r;
	ret->runs = v >> 32;
	ret->failures = v & 0xffffffff;
	if (ret->runs && (r = dise__int(st, median, &ret->median_ns, "iii", version, since_wall_ns, ret->runs / 2)) < 0)
		return r;
	return 0;
}

int dise_store_canary_new_crash(dise_store *st, int64_t canary, int64_t stable, int64_t since_wall_ns, int64_t *ret_run,
				char *sig, size_t sigsize)
{
	/*
	 * As a strike counts a crash (store-detect.c): raised by the process
	 * itself (not re-raised, not sent from outside), with a build signature
	 * and a symbolic one no crash of the stable had; without a signature,
	 * a signal no signature-less crash of the stable had.
	 */
	static const char sql[] =
		"SELECT r.id, COALESCE(c.signature, '') FROM runs r LEFT JOIN crashes c ON c.run_id = r.id "
		"WHERE r.version_id = ?1 AND r.outcome = 'crash' AND r.start_wall_ns >= ?3 "
		"AND NOT EXISTS (SELECT 1 FROM crashes x WHERE x.run_id = r.id AND (x.reraised "
		"  OR dise_sent(x.si_code, x.fault_addr, r.pid))) "
		"AND (c.signature IS NULL OR NOT EXISTS (SELECT 1 FROM crashes s JOIN runs q ON q.id = s.run_id "
		"  WHERE q.version_id = ?2 AND s.signature = c.signature)) "
		"AND (c.sym_signature IS NULL OR NOT EXISTS (SELECT 1 FROM crashes s JOIN runs q ON q.id = s.run_id "
		"  WHERE q.version_id = ?2 AND s.sym_signature = c.sym_signature)) "
		"AND (c.signature IS NOT NULL OR NOT EXISTS (SELECT 1 FROM runs q WHERE q.version_id = ?2 "
		"  AND q.outcome = 'crash' AND q.signal IS r.signal AND NOT EXISTS (SELECT 1 FROM crashes s "
		"  WHERE s.run_id = q.id AND s.signature IS NOT NULL))) "
		"ORDER BY r.id LIMIT 1";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int r;

	if (!q || dise__bind(q, "iii", canary, stable, since_wall_ns) < 0) {
		dise__done(q);
		return -EIO;
	}
	r = dise__step(q);
	if (r > 0) {
		*ret_run = sqlite3_column_int64(q, 0);
		snprintf(sig, sigsize, "%s", (const char *)sqlite3_column_text(q, 1));
	}
	dise__done(q);
	return r;
}

int dise_store_canary_set(dise_store *st, int64_t id, int step, int weight, const char *state, const char *verdict,
			  int64_t wall_ns)
{
	static const char sql[] = "UPDATE canaries SET step = ?2, weight = ?3, state = ?4, verdict = ?5, "
				  "step_wall_ns = CASE WHEN step != ?2 THEN ?6 ELSE step_wall_ns END, "
				  "ended_wall_ns = CASE WHEN ?4 = 'running' THEN NULL ELSE ?6 END WHERE id = ?1";

	return dise__exec(st, sql, "iddssi", id, step, weight, state, verdict, wall_ns);
}

int dise_store_version_state(dise_store *st, int64_t version, char *health, size_t size, int *ret_stored)
{
	static const char sql[] = "SELECT health || CASE WHEN cas_path IS NULL THEN '' ELSE '+' END FROM versions "
				  "WHERE id = ?1";
	size_t n;
	int r;

	health[0] = '\0';
	r = dise__text(st, sql, health, size, "i", version);
	n = strlen(health);
	*ret_stored = n && health[n - 1] == '+';
	if (*ret_stored)
		health[n - 1] = '\0';
	return r < 0 ? r : 0;
}

int dise_store_canary_fingerprint(dise_store *st, int64_t *ret)
{
	static const char sql[] =
		"SELECT COALESCE(sum(k.id * 1000003 + k.weight * 101 + k.step), 0) + COALESCE(sum((SELECT count(*) "
		"  FROM contents t WHERE t.sha256 = v.sha256)), 0) FROM canaries k JOIN versions v ON v.id = k.canary_id "
		"WHERE k.state IN ('running', 'aborted')";
	int r = dise__int(st, sql, ret, "");

	return r < 0 ? r : 0;
}

int dise_store_canary_routes(dise_store *st, struct dise_pruned_route **ret, size_t *ret_n)
{
	/*
	 * The files that ran as a running canary, routed to its stable version
	 * at the rollout's weight; an aborted one's (weight 0) all to it, until
	 * the healer prunes it and routes it as any pruned version.
	 */
	static const char sql[] =
		"SELECT c.exe_dev, c.exe_ino, c.exe_size, c.exe_mtime_ns, a.id, a.tool, a.sha256, a.cas_path, "
		"  min(" DISE__RUN_PATH("c") "), k.weight "
		"FROM canaries k JOIN versions p ON p.id = k.canary_id JOIN versions a ON a.id = k.stable_id "
		"JOIN runs c ON c.version_id = p.id "
		/* never a route to another tool's version */
		"WHERE ((k.state = 'running' AND k.weight BETWEEN 1 AND 99) OR (k.state = 'aborted' AND k.weight = 0)) "
		"  AND p.tool = k.tool AND a.tool = k.tool AND p.health NOT IN ('pruned', 'failed') "
		"  AND a.health IN ('healthy', 'degraded') AND a.cas_path IS NOT NULL AND a.id != p.id "
		"  AND c.exe_ino IS NOT NULL AND c.execfn IS NOT NULL "
		/* a regenerated canary runs from its copies, never at the tool's path: its route is the plain one's */
		"  AND NOT EXISTS (SELECT 1 FROM mutations m WHERE m.version_id = k.canary_id) "
		"GROUP BY c.exe_dev, c.exe_ino, c.exe_size, c.exe_mtime_ns, a.id";

	return dise__route_rows(st, sql, ret, ret_n);
}
