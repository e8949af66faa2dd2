/* SPDX-License-Identifier: MIT */
/* `dise runs [--tool T] [--limit N] [--json]`: the runs the collector stored, newest first. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "home.h"
#include "store.h"

/* The tool name: the basename of the path it was run from. */
static const char *tool_of(const char *execfn)
{
	const char *s = execfn ? strrchr(execfn, '/') : NULL;

	return s ? s + 1 : execfn ? execfn : "";
}

int dise_cli_runs(int argc, char **argv)
{
	const char *tool = NULL;
	int json = 0, limit = 100, i, r;
	char home[4096];
	dise_store *st;
	sqlite3_stmt *q;
	json_t *arr = NULL;

	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--tool") && i + 1 < argc)
			tool = argv[++i];
		else if (!strcmp(argv[i], "--limit") && i + 1 < argc)
			limit = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: dise runs [--tool T] [--limit N] [--json]\n");
			return 2;
		}
	}
	r = dise_cli_open_store(1, &st, home, sizeof(home));
	if (r)
		return r;
	if (sqlite3_prepare_v2(dise_store_db(st),
			       "SELECT r.id, r.pid, r.ppid, COALESCE(r.exe, r.execfn), r.cwd, r.argv, r.start_wall_ns, r.outcome, "
			       "r.exit_status, r.signal, (r.end_ns - r.start_ns), r.user_ns, r.sys_ns, r.maxrss_kb, "
			       "r.forked, r.exec_parent, r.exec_path, "
			       "(SELECT signature FROM crashes c WHERE c.run_id = r.id ORDER BY c.id DESC LIMIT 1) "
			       "FROM runs r ORDER BY r.start_wall_ns DESC, r.id DESC",
			       -1, &q, NULL) != SQLITE_OK) {
		fprintf(stderr, "dise: %s\n", dise_store_errmsg(st));
		dise_store_free(st);
		return 1;
	}
	if (json)
		arr = json_array();
	while (limit > 0 && (r = dise_sql_step(q)) > 0) {
		const char *execfn = (const char *)sqlite3_column_text(q, 3);
		const char *outcome = sqlite3_column_type(q, 7) == SQLITE_NULL ? "running"
										 : (const char *)sqlite3_column_text(q, 7);

		if (tool && strcmp(tool_of(execfn), tool))
			continue;
		limit--;
		if (json) {
			json_error_t err;
			json_t *o = json_pack("{s:I,s:I,s:I,s:s,s:s,s:s}", "id", (json_int_t)sqlite3_column_int64(q, 0),
					      "pid", (json_int_t)sqlite3_column_int64(q, 1), "ppid",
					      (json_int_t)sqlite3_column_int64(q, 2), "tool", tool_of(execfn), "execfn",
					      execfn ? execfn : "", "outcome", outcome);
			const char *a = (const char *)sqlite3_column_text(q, 5);
			json_t *argvj = a ? json_loads(a, 0, &err) : NULL;

			json_object_set_new(o, "cwd", json_string(sqlite3_column_text(q, 4) ? (const char *)sqlite3_column_text(q, 4) : ""));
			json_object_set_new(o, "argv", argvj ? argvj : json_array());
			json_object_set_new(o, "start_wall_ns", json_integer(sqlite3_column_int64(q, 6)));
			if (sqlite3_column_type(q, 8) != SQLITE_NULL)
				json_object_set_new(o, "exit_status", json_integer(sqlite3_column_int(q, 8)));
			if (sqlite3_column_type(q, 9) != SQLITE_NULL)
				json_object_set_new(o, "signal", json_integer(sqlite3_column_int(q, 9)));
			if (sqlite3_column_type(q, 10) != SQLITE_NULL)
				json_object_set_new(o, "wall_ns", json_integer(sqlite3_column_int64(q, 10)));
			if (sqlite3_column_type(q, 11) != SQLITE_NULL) {
				json_object_set_new(o, "user_ns", json_integer(sqlite3_column_int64(q, 11)));
				json_object_set_new(o, "sys_ns", json_integer(sqlite3_column_int64(q, 12)));
				json_object_set_new(o, "maxrss_kb", json_integer(sqlite3_column_int64(q, 13)));
			}
			json_object_set_new(o, "forked", json_boolean(sqlite3_column_int(q, 14)));
			if (sqlite3_column_type(q, 15) != SQLITE_NULL)
				json_object_set_new(o, "exec_parent", json_integer(sqlite3_column_int64(q, 15)));
			if (sqlite3_column_type(q, 16) != SQLITE_NULL)
				json_object_set_new(o, "exec_path", json_string((const char *)sqlite3_column_text(q, 16)));
			if (sqlite3_column_type(q, 17) != SQLITE_NULL)
				json_object_set_new(o, "crash_signature",
						    json_string((const char *)sqlite3_column_text(q, 17)));
			json_array_append_new(arr, o);
		} else {
			printf("%-6lld %-8lld %-16s %-8s", (long long)sqlite3_column_int64(q, 0),
			       (long long)sqlite3_column_int64(q, 1), tool_of(execfn), outcome);
			if (sqlite3_column_type(q, 8) != SQLITE_NULL)
				printf(" status %d", sqlite3_column_int(q, 8));
			if (sqlite3_column_type(q, 9) != SQLITE_NULL)
				printf(" signal %d", sqlite3_column_int(q, 9));
			if (sqlite3_column_type(q, 10) != SQLITE_NULL)
				printf(" %.3f ms", sqlite3_column_int64(q, 10) / 1e6);
			printf("\n");
		}
	}
	sqlite3_finalize(q);
	dise_store_free(st);
	if (r < 0) {
		json_decref(arr);
		return dise_cli_error(r, "reading the runs");
	}
	if (json) {
		json_dumpf(arr, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(arr);
	}
	return 0;
}
