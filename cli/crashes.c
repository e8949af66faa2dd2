/* SPDX-License-Identifier: MIT */
/*
 * `dise crashes [--json]`: crashes grouped by signature (the top frames as
 * module + offset: stable across ASLR and hosts), with counts, first and
 * last seen, the tools they hit, and the symbolized top frames of the
 * latest one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "home.h"
#include "record-json.h"
#include "store.h"

#define TOP_FRAMES 6

static const char query[] =
	"SELECT c.signature, count(*), min(r.start_wall_ns), max(r.start_wall_ns), max(c.signal), "
	"group_concat(DISTINCT COALESCE(r.exe, r.execfn)), "
	"(SELECT c2.frames FROM crashes c2 WHERE c2.signature = c.signature ORDER BY c2.id DESC LIMIT 1), "
	/* strikes per version with this signature, and the versions a detection on it condemned */
	"(SELECT group_concat(s, ', ') FROM (SELECT v.tool || ' v' || v.id || ' x' || count(*) AS s FROM crashes c3 "
	" JOIN runs r3 ON r3.id = c3.run_id JOIN versions v ON v.id = r3.version_id WHERE c3.signature = c.signature "
	" GROUP BY v.id ORDER BY v.id)), "
	"(SELECT group_concat(s, ', ') FROM (SELECT DISTINCT v.tool || ' v' || v.id || ' (' || v.health || ')' AS s "
	" FROM failures x JOIN heal_requests h ON h.failure_id = x.id JOIN versions v ON v.id = x.version_id "
	" WHERE x.signature = c.signature)) "
	"FROM crashes c JOIN runs r ON r.id = c.run_id GROUP BY c.signature ORDER BY max(r.start_wall_ns) DESC";

static void print_time(const char *label, int64_t wall_ns)
{
	time_t t = (time_t)(wall_ns / 1000000000);
	struct tm tm;
	char buf[64];

	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%s%s", label, buf);
}

int dise_cli_crashes(int argc, char **argv)
{
	char home[4096];
	int json = 0, i, r;
	dise_store *st;
	sqlite3_stmt *q;
	json_t *arr;

	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else {
			fprintf(stderr, "usage: dise crashes [--json]\n");
			return 2;
		}
	}
	r = dise_cli_open_store(1, &st, home, sizeof(home));
	if (r)
		return r;
	if (sqlite3_prepare_v2(dise_store_db(st), query, -1, &q, NULL) != SQLITE_OK) {
		fprintf(stderr, "dise: %s\n", dise_store_errmsg(st));
		dise_store_free(st);
		return 1;
	}
	arr = json_array();
	while ((r = dise_sql_step(q)) > 0) {
		const char *frames = (const char *)sqlite3_column_text(q, 6);
		const char *tools = (const char *)sqlite3_column_text(q, 5);
		json_error_t err;
		json_t *fr = frames ? json_loads(frames, 0, &err) : NULL, *top = json_array();
		size_t k;

		for (k = 0; fr && k < json_array_size(fr) && json_array_size(top) < TOP_FRAMES; k++)
			json_array_append(top, json_array_get(fr, k));
		json_decref(fr);
		if (json) {
			json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:i,s:s,s:s,s:o}", "signature",
					      (const char *)sqlite3_column_text(q, 0), "count",
					      (json_int_t)sqlite3_column_int64(q, 1), "first_seen_wall_ns",
					      (json_int_t)sqlite3_column_int64(q, 2), "last_seen_wall_ns",
					      (json_int_t)sqlite3_column_int64(q, 3), "signal", sqlite3_column_int(q, 4),
					      "signal_name", dise_signal_name(sqlite3_column_int(q, 4)), "tools",
					      tools ? tools : "", "top_frames", top);

			if (sqlite3_column_text(q, 7))
				json_object_set_new(o, "strikes_by_version", json_string((const char *)sqlite3_column_text(q, 7)));
			if (sqlite3_column_text(q, 8))
				json_object_set_new(o, "condemned", json_string((const char *)sqlite3_column_text(q, 8)));
			json_array_append_new(arr, o);
			continue;
		}
		printf("%s  %s x%lld  in %s\n", (const char *)sqlite3_column_text(q, 0),
		       dise_signal_name(sqlite3_column_int(q, 4)), (long long)sqlite3_column_int64(q, 1),
		       tools ? tools : "?");
		print_time("    first ", sqlite3_column_int64(q, 2));
		print_time(", last ", sqlite3_column_int64(q, 3));
		putchar('\n');
		if (sqlite3_column_text(q, 7))
			printf("    strikes: %s\n", (const char *)sqlite3_column_text(q, 7));
		if (sqlite3_column_text(q, 8))
			printf("    condemned: %s\n", (const char *)sqlite3_column_text(q, 8));
		for (k = 0; k < json_array_size(top); k++) {
			json_t *f = json_array_get(top, k);
			const char *fn = json_string_value(json_object_get(f, "function"));
			const char *mod = json_string_value(json_object_get(f, "module"));

			printf("    #%zu %s", k, fn ? fn : "??");
			if (fn)
				printf("+0x%llx", (unsigned long long)json_integer_value(json_object_get(f, "function_offset")));
			if (mod)
				printf(" (%s+0x%llx)", mod, (unsigned long long)json_integer_value(json_object_get(f, "offset")));
			putchar('\n');
		}
		json_decref(top);
	}
	sqlite3_finalize(q);
	dise_store_free(st);
	if (r < 0) { /* busy: a partial list is no answer */
		json_decref(arr);
		return dise_cli_error(r, "reading the crashes");
	}
	if (json) {
		json_dumpf(arr, stdout, JSON_COMPACT);
		putchar('\n');
	}
	json_decref(arr);
	return 0;
}
