/* SPDX-License-Identifier: MIT */
/*
 * The store's half of the Prometheus metrics (metrics.c formats them): one
 * cached statement per metric family, each row its label values (text)
 * then the value (an integer).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>

#include "store-internal.h"

static const char *const metric_sql[DISE_METRIC_MAX] = {
	[DISE_METRIC_RUNS] = "SELECT COALESCE(tool, ''), outcome, count(*) FROM runs WHERE outcome IS NOT NULL "
			     "GROUP BY 1, 2 ORDER BY 1, 2",
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

int dise_store_metric(dise_store *st, enum dise_metric m, int (*fn)(void *arg, const char *const *labels, int nlabels, int64_t value),
		      void *arg)
{
	sqlite3_stmt *q;
	int r;

	if ((unsigned)m >= DISE_METRIC_MAX)
		return -EINVAL;
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
