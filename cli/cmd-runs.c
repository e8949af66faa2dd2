/* SPDX-License-Identifier: MIT */
/* `dise runs [--tool T] [--limit N] [--json]`: the runs the collector stored, newest first. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "home.h"
#include "store.h"

int dise_cli_runs(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_TOOL = DISE_CLI_OPT_FIRST, OPT_LIMIT };
	static const struct option opts[] = { DISE_CLI_JSON, { "tool", required_argument, NULL, OPT_TOOL },
					      { "limit", required_argument, NULL, OPT_LIMIT }, DISE_CLI_OPT_END };
	const char *tool = NULL;
	int json = 0, limit = 100, c, i, r;
	char home[4096], name[4096];
	dise_store *st;
	json_t *arr = NULL, *rows;

	while ((c = dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd)) != -1) {
		switch (c) {
		case DISE_CLI_OPT_JSON: json = 1; break;
		case OPT_TOOL: tool = optarg; break;
		case OPT_LIMIT: limit = (int)dise_cli_number(optarg, 0, INT_MAX, "--limit", cmd); break;
		}
	}
	dise_cli_operands(argc, argv, 0, 0, cmd);
	r = dise_cli_open_store(1, &st, home, sizeof(home));
	if (r)
		return r;
	if (tool && (r = dise_cli_tool_name(st, tool, name, sizeof(name)))) {
		dise_store_free(st);
		return r;
	}
	r = dise_store_report(st, DISE_REPORT_RUNS, tool ? name : NULL, limit, &rows);
	dise_store_free(st);
	if (r < 0)
		return dise_cli_error(r, "reading the runs");
	if (json)
		arr = json_array();
	for (i = 0; i < (int)json_array_size(rows); i++) {
		json_t *row = json_array_get(rows, i);
		const char *outcome = json_string_value(json_object_get(row, "outcome"));
		const char *rtool = json_string_value(json_object_get(row, "tool"));
		json_t *v;

		if (!rtool)
			rtool = "";

		if (!outcome)
			outcome = "running";
		if (json) {
			json_error_t err;
			json_t *o = json_pack("{s:I,s:I,s:I}", "id", dise_cli_num(row, "id"), "pid", dise_cli_num(row, "pid"),
					      "ppid", dise_cli_num(row, "ppid"));
			const char *a = dise_cli_str(row, "argv");
			json_t *argvj = a ? json_loads(a, 0, &err) : NULL;
			static const char *const texts[][2] = { { "tool", "tool" }, { "execfn", "exe" }, { "cwd", "cwd" } };
			size_t t;

			/* the exact bytes (dise_cli_json_print writes them as {"hex"} when not UTF-8): never a row dropped */
			for (t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
				json_t *x = json_object_get(row, texts[t][1]);

				json_object_set_new(o, texts[t][0], x ? json_incref(x) : json_string(""));
			}
			json_object_set_new(o, "outcome", json_string(outcome));
			json_object_set_new(o, "argv", argvj ? argvj : json_array());
			json_object_set_new(o, "start_wall_ns", json_integer(dise_cli_num(row, "start_wall_ns")));
			if ((v = json_object_get(row, "exit_status")))
				json_object_set(o, "exit_status", v);
			if ((v = json_object_get(row, "signal")))
				json_object_set(o, "signal", v);
			if ((v = json_object_get(row, "wall_ns")))
				json_object_set(o, "wall_ns", v);
			if (json_object_get(row, "user_ns")) {
				json_object_set_new(o, "user_ns", json_integer(dise_cli_num(row, "user_ns")));
				json_object_set_new(o, "sys_ns", json_integer(dise_cli_num(row, "sys_ns")));
				json_object_set_new(o, "maxrss_kb", json_integer(dise_cli_num(row, "maxrss_kb")));
			}
			json_object_set_new(o, "forked", json_boolean(dise_cli_num(row, "forked")));
			if ((v = json_object_get(row, "exec_parent")))
				json_object_set(o, "exec_parent", v);
			if ((v = json_object_get(row, "exec_path")))
				json_object_set(o, "exec_path", v);
			if ((v = json_object_get(row, "crash_signature")))
				json_object_set(o, "crash_signature", v);
			if ((v = json_object_get(row, "arm")))
				json_object_set(o, "arm", v);
			json_array_append_new(arr, o);
		} else {
			dise_cli_print(stdout, "%-6lld %-8lld %-8s %s", (long long)dise_cli_num(row, "id"), (long long)dise_cli_num(row, "pid"), outcome,
			       rtool);
			if (json_object_get(row, "exit_status"))
				dise_cli_print(stdout, " status %d", (int)dise_cli_num(row, "exit_status"));
			if (json_object_get(row, "signal"))
				dise_cli_print(stdout, " signal %d", (int)dise_cli_num(row, "signal"));
			if (json_object_get(row, "wall_ns"))
				dise_cli_print(stdout, " %.3f ms", dise_cli_num(row, "wall_ns") / 1e6);
			if (dise_cli_str(row, "arm"))
				dise_cli_print(stdout, " [%s arm]", dise_cli_str(row, "arm"));
			dise_cli_print(stdout, "\n");
		}
	}
	json_decref(rows);
	if (json) {
		dise_cli_json_print(arr);
		json_decref(arr);
	}
	return 0;
}
