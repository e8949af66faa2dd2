/* SPDX-License-Identifier: MIT */
/*
 * `dise tools [--json]`: every tool (a lineage) with its paths, versions,
 * health and route. And how a command's TOOL operand is found: a tool is
 * named by the path it is invoked at (or by its group's name, dise.json
 * "paths" or `dise tool add`); a command also accepts a relative path, or a
 * file name that is exactly one tool's (several: an error listing them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "store.h"

int dise_cli_tool_name(struct dise_store *st, const char *name, char *buf, size_t size)
{
	char cwd[PATH_MAX], *cand = NULL;
	int r;

	if (!getcwd(cwd, sizeof(cwd)))
		cwd[0] = '\0';
	r = dise_store_tool_lookup(st, name, cwd, buf, size, &cand);
	if (r == -EEXIST) {
		dise_cli_print(stderr, "dise: '%s' names several tools: %s (name one by its path)\n", name, cand);
		free(cand);
		return 1;
	}
	if (r < 0)
		return dise_cli_error(r, "looking up tool '%s'", name);
	if (r == 0) /* none: the name as given, for the command to say it knows nothing of it */
		snprintf(buf, size, "%s", name);
	return 0;
}

int dise_cli_tools(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	static const struct option opts[] = { DISE_CLI_JSON, DISE_CLI_OPT_END };
	char home[4096];
	int json = 0, c, r;
	size_t i;
	dise_store *st;
	json_t *rows;

	while ((c = dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd)) != -1)
		if (c == DISE_CLI_OPT_JSON)
			json = 1;
	dise_cli_operands(argc, argv, 0, 0, cmd);
	r = dise_cli_open_store(1, &st, home, sizeof(home));
	if (r)
		return r;
	r = dise_store_report(st, DISE_REPORT_TOOLS, NULL, 0, &rows);
	dise_store_free(st);
	if (r < 0)
		return dise_cli_error(r, "reading the tools");
	if (json) {
		json_t *arr = json_array();

		for (i = 0; i < json_array_size(rows); i++) {
			json_t *row = json_array_get(rows, i), *o = json_object(), *paths = json_array(), *v;
			const char *p = json_string_value(json_object_get(row, "paths"));
			char *copy = p ? strdup(p) : NULL, *save = NULL, *w;

			for (w = copy ? strtok_r(copy, " ", &save) : NULL; w; w = strtok_r(NULL, " ", &save))
				json_array_append_new(paths, json_string(w));
			free(copy);
			json_object_set(o, "tool", json_object_get(row, "tool"));
			json_object_set_new(o, "paths", paths);
			json_object_set(o, "versions", json_object_get(row, "versions"));
			json_object_set_new(o, "health", json_string(json_string_value(json_object_get(row, "health"))
									? json_string_value(json_object_get(row, "health"))
									: ""));
			if ((v = json_object_get(row, "newest")))
				json_object_set(o, "newest", v);
			json_object_set(o, "route", (v = json_object_get(row, "route")) ? v : json_null());
			json_array_append_new(arr, o);
		}
		dise_cli_json_print(arr);
		json_decref(arr);
	} else if (!json_array_size(rows)) {
		dise_cli_print(stdout, "no tools recorded yet\n");
	} else {
		for (i = 0; i < json_array_size(rows); i++) {
			json_t *row = json_array_get(rows, i);
			const char *tool = json_string_value(json_object_get(row, "tool"));
			const char *paths = json_string_value(json_object_get(row, "paths"));
			const char *health = json_string_value(json_object_get(row, "health"));
			const char *route = json_string_value(json_object_get(row, "route"));
			json_int_t nv = json_integer_value(json_object_get(row, "versions"));

			dise_cli_print(stdout, "%s\n  versions %lld (%s)%s%s\n", tool ? tool : "?", (long long)nv, health ? health : "none",
			       route ? ", runs " : "", route ? route : "");
			/* a group's paths; a tool that is its one path needs no second line */
			if (paths && (!tool || strcmp(paths, tool)))
				dise_cli_print(stdout, "  paths %s\n", paths);
		}
	}
	json_decref(rows);
	return 0;
}
