/* SPDX-License-Identifier: MIT */
/* A history for the benchmarks that measure what a large database costs (bench-heal, bench-collector-cpu). */
#ifndef DISE_BENCH_HISTORY_H
#define DISE_BENCH_HISTORY_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "store.h"

/*
 * n runs of 200 tools x 5 versions, ok, spread over the last 30 minutes, in
 * home's new database, made at schema version schema (DISE_SCHEMA_VERSION:
 * this build's; an older one for a collector built before it, which
 * migrates it as any upgrade would).
 */
static inline void make_history_at(const char *home, long n, int schema)
{
	static const char sql[] =
		"BEGIN;"
		"WITH RECURSIVE t(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM t WHERE i < 999) "
		"INSERT INTO versions(id, tool, sha256, label, path, first_seen_wall_ns) SELECT 1000000 + i, "
		"'hist' || (i / 5), printf('%064x', i), 'v' || (i % 5 + 1), '/opt/hist/' || (i / 5), ?2 FROM t;"
		"WITH RECURSIVE t(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM t WHERE i < ?1 - 1) "
		"INSERT INTO runs(epoch, pid, start_ns, ppid, uid, start_wall_ns, execfn, exe, cwd, argv, argc, end_ns, "
		"outcome, exit_status, tool, version_id, class) SELECT 1, 100000 + i, i * 1000, 1, 0, "
		"?2 - (?1 - i) * (1800000000000 / ?1), '/opt/hist/' || (i % 1000 / 5), '/opt/hist/' || (i % 1000 / 5), '/', "
		"'[\"x\"]', 1, i * 1000 + 1000000, 'ok', 0, 'hist' || (i % 1000 / 5), 1000000 + i % 1000, ?3 FROM t;"
		"COMMIT;";
	char db[300];
	sqlite3 *h = NULL;
	sqlite3_stmt *q;
	const char *tail = sql;
	struct timespec ts;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	mkdir(home, 0700);
	snprintf(db, sizeof(db), "%s/dise.db", home);
	if (dise_store_create_old(db, schema) < 0 || sqlite3_open(db, &h) != SQLITE_OK) {
		fprintf(stderr, "bench: cannot make the history database\n");
		exit(1);
	}
	while (r == 0 && *tail) {
		if (sqlite3_prepare_v2(h, tail, -1, &q, &tail) != SQLITE_OK) {
			r = -1;
			break;
		}
		if (!q)
			break;
		if (sqlite3_bind_parameter_count(q) >= 1)
			sqlite3_bind_int64(q, 1, n);
		if (sqlite3_bind_parameter_count(q) >= 2)
			sqlite3_bind_int64(q, 2, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
		if (sqlite3_bind_parameter_count(q) >= 3) /* the class ingest gives argv ["x"] in / */
			sqlite3_bind_int64(q, 3, dise_store_run_class("[\"x\"]", "/"));
		if (sqlite3_step(q) != SQLITE_DONE)
			r = -1;
		sqlite3_finalize(q);
	}
	if (r < 0) {
		fprintf(stderr, "bench: history: %s\n", sqlite3_errmsg(h));
		exit(1);
	}
	sqlite3_close(h);
}

static inline void make_history(const char *home, long n)
{
	make_history_at(home, n, DISE_SCHEMA_VERSION);
}

#endif
