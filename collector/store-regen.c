/* SPDX-License-Identifier: MIT */
/* The regeneration's statements: mutations and the ratchet (store-regen.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"
#include "store-regen.h"

int dise_store_mutation_add(dise_store *st, const struct dise_mutation *m, int64_t *ret_id)
{
	static const char sql[] =
		"INSERT INTO mutations(tool, pruned_id, ancestor_id, version_id, strategy, verdict, reason, diff, diff_sha256, "
		"hunks, reverted, candidates, fitness, baseline, validation, cas_path, duration_ns, created_wall_ns, model, "
		"prompt_sha256, tokens, confidence) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, CASE WHEN ?13 < 0 THEN NULL ELSE ?13 END, "
		"CASE WHEN ?14 < 0 THEN NULL ELSE ?14 END, ?15, ?16, ?17, ?18, ?19, ?20, ?21, "
		"CASE WHEN ?22 < 0 THEN NULL ELSE ?22 END)";
	int r = dise__exec(st, sql, "siinsssssdddffssiissnf", m->tool, m->pruned, m->ancestor, m->version ? m->version : -1,
			   m->strategy, m->verdict, m->reason, m->diff, m->diff_sha256, m->hunks, m->reverted,
			   m->candidates, m->fitness, m->baseline, m->validation, m->cas_path, m->duration_ns, m->wall_ns,
			   m->model, m->prompt_sha256, m->tokens > 0 ? m->tokens : (int64_t)-1, m->confidence);

	if (r == 0 && ret_id)
		*ret_id = sqlite3_last_insert_rowid(st->db);
	return r;
}

int dise_store_mutation_verdict(dise_store *st, int64_t id, const char *verdict, int64_t version, const char *why)
{
	static const char sql[] = "UPDATE mutations SET verdict = ?2, version_id = COALESCE(?3, version_id), "
				  "reason = COALESCE(reason || '; ', '') || ?4 WHERE id = ?1";

	return dise__exec(st, sql, "isns", id, verdict, version ? version : -1, why ? why : "");
}

int dise_store_proposal_get(dise_store *st, int64_t id, struct dise_proposal *ret)
{
	static const char sql[] = "SELECT tool, pruned_id, ancestor_id, diff, cas_path, diff_sha256 FROM mutations WHERE id = ?1 AND verdict = 'proposed'";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!q)
		return -EIO;
	dise__bind(q, "i", id);
	r = dise__step(q);
	if (r > 0) {
		const char *tool = (const char *)sqlite3_column_text(q, 0);

		ret->id = id;
		snprintf(ret->tool, sizeof(ret->tool), "%s", tool ? tool : "");
		ret->pruned = sqlite3_column_int64(q, 1);
		ret->ancestor = sqlite3_column_int64(q, 2);
		ret->diff = dise__col_strdup(q, 3);
		ret->cas_path = dise__col_strdup(q, 4);
		snprintf(ret->sha256, sizeof(ret->sha256), "%s", sqlite3_column_text(q, 5) ? (const char *)sqlite3_column_text(q, 5) : "");
	}
	dise__done(q);
	return r;
}

int dise_store_mutation_refused(dise_store *st, const char *tool, const char *diff_sha256)
{
	static const char sql[] = "SELECT count(*) FROM mutations WHERE tool = ?1 AND diff_sha256 = ?2 "
				  "AND verdict = 'refused'";
	int64_t n = 0;
	int r = dise__int(st, sql, &n, "ss", tool, diff_sha256);

	return r < 0 ? r : n > 0;
}

int dise_store_ratchet_get(dise_store *st, const char *tool, struct dise_ratchet *ret)
{
	static const char sql[] = "SELECT best, rejections, locked_until_ns FROM ratchet WHERE tool = ?1";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!q)
		return -EIO;
	dise__bind(q, "s", tool);
	r = dise__step(q);
	if (r > 0) {
		ret->best = sqlite3_column_double(q, 0);
		ret->rejections = sqlite3_column_int(q, 1);
		ret->locked_until_ns = sqlite3_column_int64(q, 2);
	}
	dise__done(q);
	return r;
}

int dise_store_ratchet_set(dise_store *st, const char *tool, const struct dise_ratchet *rt)
{
	static const char sql[] = "INSERT INTO ratchet(tool, best, rejections, locked_until_ns) VALUES (?1, ?2, ?3, ?4) "
				  "ON CONFLICT(tool) DO UPDATE SET best = max(best, excluded.best), "
				  "rejections = excluded.rejections, locked_until_ns = excluded.locked_until_ns";

	return dise__exec(st, sql, "sfdi", tool, rt->best, rt->rejections, rt->locked_until_ns);
}

void dise_proposal_free(struct dise_proposal *p)
{
	free(p->diff);
	free(p->cas_path);
	p->diff = p->cas_path = NULL;
}

int dise_store_version_path(dise_store *st, int64_t version, char *buf, size_t size)
{
	static const char sql[] = "SELECT path FROM versions WHERE id = ?1";

	return dise__text(st, sql, buf, size, "i", version);
}

int dise_store_version_rev(dise_store *st, int64_t version, char *buf, size_t size)
{
	static const char sql[] = "SELECT rev FROM version_revs WHERE version_id = ?1";

	return dise__text(st, sql, buf, size, "i", version);
}

int dise_store_version_rev_set(dise_store *st, int64_t version, const char *rev, const char *origin, int64_t now_ns)
{
	static const char sql[] = "INSERT INTO version_revs(version_id, rev, origin, created_wall_ns) VALUES (?1, ?2, ?3, ?4) "
				  "ON CONFLICT(version_id) DO UPDATE SET rev = excluded.rev, origin = excluded.origin, "
				  "created_wall_ns = excluded.created_wall_ns";

	return dise__exec(st, sql, "issi", version, rev, origin, now_ns);
}

int dise_store_mutation_accepted(dise_store *st, int64_t pruned, int64_t *ret_id)
{
	static const char sql[] = "SELECT max(id) FROM mutations WHERE pruned_id = ?1 AND verdict IN ('routed', 'proposed', "
				  "'approved') HAVING max(id) IS NOT NULL";

	return dise__int(st, sql, ret_id, "i", pruned);
}

int dise_store_mutation_tried(dise_store *st, const char *tool, const char *diff_sha256)
{
	static const char sql[] = "SELECT count(*) FROM mutations WHERE tool = ?1 AND diff_sha256 = ?2 "
				  "AND verdict IN ('failed', 'ratchet', 'refused')";
	int64_t n = 0;
	int r = dise__int(st, sql, &n, "ss", tool, diff_sha256);

	return r < 0 ? r : n > 0;
}

int dise_store_mutations_earlier(dise_store *st, const char *tool, struct dise_earlier *ret, int max)
{
	static const char sql[] = "SELECT verdict, reason, diff FROM mutations WHERE tool = ?1 AND diff IS NOT NULL "
				  "AND verdict IN ('failed', 'ratchet', 'refused') ORDER BY id DESC LIMIT ?2";
	sqlite3_stmt *q = dise__stmt(st, sql);
	int n = 0, r = 0;

	if (!q)
		return -EIO;
	dise__bind(q, "si", tool, (int64_t)max);
	while (n < max && (r = dise__step(q)) > 0) {
		const char *v = (const char *)sqlite3_column_text(q, 0);

		snprintf(ret[n].verdict, sizeof(ret[n].verdict), "%s", v ? v : "");
		ret[n].reason = dise__col_strdup(q, 1);
		ret[n].diff = dise__col_strdup(q, 2);
		n++;
	}
	dise__done(q);
	if (r < 0) {
		dise_earlier_free(ret, n);
		return r;
	}
	return n;
}

void dise_earlier_free(struct dise_earlier *e, int n)
{
	for (int i = 0; i < n; i++) {
		free(e[i].reason);
		free(e[i].diff);
		e[i].reason = e[i].diff = NULL;
	}
}
