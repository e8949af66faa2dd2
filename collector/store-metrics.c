/* SPDX-License-Identifier: MIT */
/*
 * The store's half of the Prometheus metrics (metrics.c formats them): one
 * cached statement per metric family, each row its label values (text)
 * then the value (an integer).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"

static const char *const metric_sql[DISE_METRIC_MAX] = {
	/* grouped by runs_metric() below, not by SQLite: "GROUP BY 1, 2 ORDER BY 1, 2" of these rows */
	[DISE_METRIC_RUNS] = "SELECT COALESCE(tool, ''), outcome FROM runs WHERE outcome IS NOT NULL",
	/* outcome.h's decision, with no tool policy: what may count against a version */
	[DISE_METRIC_FAILURES] = "SELECT COALESCE(tool, ''), outcome, count(*) FROM runs WHERE outcome IS NOT NULL "
				 "AND dise_failed(outcome, exit_status, NULL) GROUP BY 1, 2 ORDER BY 1, 2",
	[DISE_METRIC_CRASHES] = "SELECT * FROM (SELECT COALESCE(c.signature, ''), COALESCE(r.tool, ''), CAST(c.signal AS TEXT), "
				"count(*) AS n FROM crashes c JOIN runs r ON r.id = c.run_id GROUP BY 1, 2, 3 "
				"ORDER BY n DESC LIMIT 500) ORDER BY 1, 2, 3", /* bounded label sets: the 500 most frequent */
	[DISE_METRIC_HEALS] = "SELECT COALESCE(tool, ''), count(*) FROM journal WHERE step = 'prune' AND result = 'ok' "
			      "GROUP BY 1 ORDER BY 1",
	[DISE_METRIC_ROUTES] = "SELECT COALESCE(tool, ''), count(*) FROM journal WHERE step = 'route' AND result = 'ok' "
			       "GROUP BY 1 ORDER BY 1",
	[DISE_METRIC_HEAL_STEPS] = "SELECT step, result, count(*) FROM journal GROUP BY 1, 2 ORDER BY 1, 2",
	[DISE_METRIC_ROUTED] = "SELECT r.tool, COALESCE(v.label, 'v' || r.version_id), 1 FROM routes r "
			       "LEFT JOIN versions v ON v.id = r.version_id ORDER BY 1",
	[DISE_METRIC_VERSIONS] = "SELECT health, count(*) FROM versions GROUP BY 1 ORDER BY 1",
	[DISE_METRIC_CANARY] = "SELECT c.tool, COALESCE(s.label, 'v' || c.stable_id), COALESCE(k.label, 'v' || c.canary_id), c.weight "
			       "FROM canaries c LEFT JOIN versions s ON s.id = c.stable_id LEFT JOIN versions k ON k.id = c.canary_id "
			       "WHERE c.state = 'running' ORDER BY 1",
};

/* One (tool, outcome) group of runs_metric(): its labels, their hash, its count. */
struct group {
	char *tool, *outcome;
	uint64_t hash;
	int64_t n;
};

/* FNV-1a of the two labels (a 0 between them) */
static uint64_t labels_hash(const char *a, const char *b)
{
	return dise__fnv1a(dise__fnv1a(DISE__FNV_BASIS, a) * DISE__FNV_PRIME, b);
}

/* The slot of (tool, outcome) in the open-addressed table t of capacity cap (a power of 2): its group, or an empty one. */
static struct group *group_slot(struct group *t, size_t cap, const char *tool, const char *outcome, uint64_t h)
{
	size_t i = (size_t)h & (cap - 1);

	while (t[i].tool && (t[i].hash != h || strcmp(t[i].tool, tool) || strcmp(t[i].outcome, outcome)))
		i = (i + 1) & (cap - 1);
	return &t[i];
}

/* Doubles the table *t (capacity *cap), its groups moved. 0 or -ENOMEM. */
static int groups_grow(struct group **t, size_t *cap)
{
	size_t ncap = *cap ? *cap * 2 : 64;
	struct group *n = calloc(ncap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < *cap; i++)
		if ((*t)[i].tool)
			*group_slot(n, ncap, (*t)[i].tool, (*t)[i].outcome, (*t)[i].hash) = (*t)[i];
	free(*t);
	*t = n;
	*cap = ncap;
	return 0;
}

/* the order of SQLite's BINARY collation for these texts (no NUL inside: C strings' paths and names) */
static int group_cmp(const void *a, const void *b)
{
	const struct group *x = *(const struct group *const *)a, *y = *(const struct group *const *)b;
	int c = strcmp(x->tool, y->tool);

	return c ? c : strcmp(x->outcome, y->outcome);
}

/* Gives the groups of t (n of them, capacity cap) to fn in the order of their labels. 0 or -errno. */
static int groups_give(struct group *t, size_t cap, size_t n,
		       int (*fn)(void *arg, const char *const *labels, int nlabels, int64_t value), void *arg)
{
	struct group **order = malloc((n ? n : 1) * sizeof(*order));
	size_t k = 0;
	int r = 0;

	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		if (t[i].tool)
			order[k++] = &t[i];
	qsort(order, k, sizeof(*order), group_cmp);
	for (size_t i = 0; i < k && r >= 0; i++) {
		const char *labels[2] = { order[i]->tool, order[i]->outcome };

		r = fn(arg, labels, 2, order[i]->n);
	}
	free(order);
	return r < 0 ? r : 0;
}

/*
 * DISE_METRIC_RUNS: the ended runs by tool and outcome, counted here in a
 * hash table as the rows come. SQLite's GROUP BY sorted every ended run of
 * the history in a temporary b-tree at each write of the metrics (every
 * minute by the collector itself): 3-4 times a plain scan of the table.
 * The groups (tools x outcomes) are few. The same rows and order as
 * "GROUP BY 1, 2 ORDER BY 1, 2".
 */
static int runs_metric(dise_store *st, int (*fn)(void *arg, const char *const *labels, int nlabels, int64_t value),
		       void *arg)
{
	sqlite3_stmt *q = dise__stmt(st, metric_sql[DISE_METRIC_RUNS]);
	struct group *t = NULL;
	size_t cap = 0, n = 0;
	int r;

	if (!q)
		return -EIO;
	while ((r = dise__step(q)) > 0) {
		const char *tool = (const char *)sqlite3_column_text(q, 0), *outcome = (const char *)sqlite3_column_text(q, 1);
		uint64_t h;
		struct group *g;

		if (!tool || !outcome)
			continue; /* out of memory in SQLite: not counted rather than counted wrong */
		if ((n + 1) * 2 > cap && (r = groups_grow(&t, &cap)) < 0)
			break;
		h = labels_hash(tool, outcome);
		g = group_slot(t, cap, tool, outcome, h);
		if (!g->tool) {
			g->tool = strdup(tool);
			g->outcome = strdup(outcome);
			g->hash = h;
			if (!g->tool || !g->outcome) {
				free(g->tool);
				free(g->outcome);
				g->tool = g->outcome = NULL;
				r = -ENOMEM;
				break;
			}
			n++;
		}
		g->n++;
	}
	dise__done(q);
	if (r == 0)
		r = groups_give(t, cap, n, fn, arg);
	for (size_t i = 0; i < cap; i++) {
		free(t[i].tool);
		free(t[i].outcome);
	}
	free(t);
	return r;
}

int dise_store_metric(dise_store *st, enum dise_metric m, int (*fn)(void *arg, const char *const *labels, int nlabels, int64_t value),
		      void *arg)
{
	sqlite3_stmt *q;
	int r;

	if ((unsigned)m >= DISE_METRIC_MAX)
		return -EINVAL;
	if (m == DISE_METRIC_RUNS)
		return runs_metric(st, fn, arg);
	q = dise__stmt(st, metric_sql[m]);
	if (!q)
		return -EIO;
	while ((r = dise__step(q)) > 0) {
		const char *labels[DISE_METRIC_LABELS_MAX];
		int n = sqlite3_column_count(q) - 1, i;

		if (n > DISE_METRIC_LABELS_MAX)
			n = DISE_METRIC_LABELS_MAX;
		for (i = 0; i < n; i++) {
			const char *t = (const char *)sqlite3_column_text(q, i);

			labels[i] = t ? t : "";
		}
		r = fn(arg, labels, n, sqlite3_column_int64(q, sqlite3_column_count(q) - 1));
		if (r < 0)
			break;
	}
	dise__done(q);
	return r < 0 ? r : 0;
}
