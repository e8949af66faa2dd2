/* SPDX-License-Identifier: MIT */
/*
 * `dise health [--json]`: what an operator wants at 3 a.m.: how many
 * versions are healthy, degraded, pruned; the latest failures and whether
 * they were healed; what runs instead; how often healing found an ancestor,
 * and how long from detection to the route.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "store.h"

static int64_t one(sqlite3 *db, const char *sql)
{
	return dise_sql_int(db, sql, 0);
}

int dise_cli_health(int argc, char **argv)
{
	char home[4096];
	int json = argc > 2 && !strcmp(argv[2], "--json"), r;
	dise_store *st;
	sqlite3 *db;
	sqlite3_stmt *q;
	json_t *o = json_object(), *by = json_object(), *recent = json_array();
	int64_t routed, lost, frozen, mean_ns;

	r = dise_cli_open_store(1, &st, home, sizeof(home));
	if (r) {
		json_decref(o), json_decref(by), json_decref(recent);
		return r;
	}
	db = dise_store_db(st);
	if (sqlite3_prepare_v2(db, "SELECT health, count(*) FROM versions GROUP BY health ORDER BY health", -1, &q,
			       NULL) == SQLITE_OK) {
		while ((r = dise_sql_step(q)) > 0)
			json_object_set_new(by, (const char *)sqlite3_column_text(q, 0),
					    json_integer(sqlite3_column_int64(q, 1)));
		sqlite3_finalize(q);
	}
	if (sqlite3_prepare_v2(db,
			       "SELECT f.created_wall_ns, v.tool, v.id, f.detector, f.description, "
			       "COALESCE(h.state, 'not queued'), (SELECT version_id FROM routes r WHERE r.tool = v.tool) "
			       "FROM failures f JOIN versions v ON v.id = f.version_id "
			       "LEFT JOIN heal_requests h ON h.failure_id = f.id ORDER BY f.id DESC LIMIT 10",
			       -1, &q, NULL) == SQLITE_OK && r >= 0) {
		while ((r = dise_sql_step(q)) > 0) {
			json_t *e = json_pack("{s:I,s:s,s:I,s:s,s:s,s:s}", "wall_ns", (json_int_t)sqlite3_column_int64(q, 0),
					      "tool", (const char *)sqlite3_column_text(q, 1), "version",
					      (json_int_t)sqlite3_column_int64(q, 2), "detector",
					      (const char *)sqlite3_column_text(q, 3), "description",
					      (const char *)sqlite3_column_text(q, 4), "healing",
					      (const char *)sqlite3_column_text(q, 5));

			if (sqlite3_column_type(q, 6) != SQLITE_NULL)
				json_object_set_new(e, "runs_instead", json_integer(sqlite3_column_int64(q, 6)));
			json_array_append_new(recent, e);
		}
		sqlite3_finalize(q);
	}
	if (r < 0) {
		dise_store_free(st);
		json_decref(o), json_decref(by), json_decref(recent);
		return dise_cli_error(r, "reading the store");
	}
	routed = one(db, "SELECT count(*) FROM heal_requests WHERE state = 'done'");
	lost = one(db, "SELECT count(*) FROM heal_requests WHERE state = 'no_ancestor'");
	frozen = one(db, "SELECT count(*) FROM heal_requests WHERE state = 'frozen'");
	mean_ns = one(db, "SELECT COALESCE(avg(j.wall_ns - h.created_wall_ns), 0) FROM heal_requests h "
			  "JOIN journal j ON j.request_id = h.id AND j.step = 'route' WHERE h.state = 'done'");
	json_object_set_new(o, "versions", by);
	json_object_set_new(o, "runs", json_integer(one(db, "SELECT count(*) FROM runs")));
	json_object_set_new(o, "queued_heal_requests", json_integer(one(db, "SELECT count(*) FROM heal_requests WHERE state = 'queued'")));
	json_object_set_new(o, "healings", json_integer(routed + lost));
	json_object_set_new(o, "routed", json_integer(routed));
	json_object_set_new(o, "no_ancestor", json_integer(lost));
	json_object_set_new(o, "frozen", json_integer(frozen));
	json_object_set_new(o, "success_rate", routed + lost ? json_real((double)routed / (double)(routed + lost)) : json_null());
	json_object_set_new(o, "mean_detection_to_route_ns", json_integer(mean_ns));
	json_object_set_new(o, "recent_failures", recent);
	dise_store_free(st);
	if (json) {
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
	} else {
		const char *k;
		json_t *v;
		size_t i;

		printf("versions:");
		json_object_foreach(by, k, v)
			printf(" %lld %s", (long long)json_integer_value(v), k);
		printf("\nruns: %lld   heal requests queued: %lld\n", (long long)json_integer_value(json_object_get(o, "runs")),
		       (long long)json_integer_value(json_object_get(o, "queued_heal_requests")));
		printf("healings: %lld (%lld routed to a healthy ancestor, %lld with none)", (long long)(routed + lost),
		       (long long)routed, (long long)lost);
		if (routed)
			printf(", detection to route %.2f ms on average", mean_ns / 1e6);
		if (frozen)
			printf("\nfrozen by policy (failed, nothing routed): %lld", (long long)frozen);
		printf("\nrecent failures:\n");
		for (i = 0; i < json_array_size(recent); i++) {
			json_t *e = json_array_get(recent, i);
			time_t t = (time_t)(json_integer_value(json_object_get(e, "wall_ns")) / 1000000000);
			struct tm tm;
			char when[32];

			localtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
			printf("  %s  %s v%lld  %s  [%s", when, json_string_value(json_object_get(e, "tool")),
			       (long long)json_integer_value(json_object_get(e, "version")),
			       json_string_value(json_object_get(e, "description")),
			       json_string_value(json_object_get(e, "healing")));
			if (json_object_get(e, "runs_instead"))
				printf(", runs v%lld instead", (long long)json_integer_value(json_object_get(e, "runs_instead")));
			printf("]\n");
		}
	}
	json_decref(o);
	return 0;
}
