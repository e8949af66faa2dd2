/* SPDX-License-Identifier: MIT */
/*
 * `dise journal [--tool T] [--limit N] [--json]`: every step healing took
 * (start, prune, taint, rule, validate, route, restore, reset, ...), with
 * its result and detail, the newest N oldest first: the one place where an
 * operator sees why a heal did what it did, or did not.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "store.h"

int dise_cli_journal(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_TOOL = DISE_CLI_OPT_FIRST, OPT_LIMIT };
	static const struct option opts[] = { DISE_CLI_JSON, { "tool", required_argument, NULL, OPT_TOOL },
					      { "limit", required_argument, NULL, OPT_LIMIT }, DISE_CLI_OPT_END };
	const char *tool = NULL;
	int json = 0, limit = 100, c, r;
	char home[4096];
	dise_store *st;
	json_t *rows;
	size_t i;

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
	r = dise_store_report(st, DISE_REPORT_JOURNAL, tool, limit, &rows);
	dise_store_free(st);
	if (r < 0)
		return dise_cli_error(r, "reading the journal");
	if (json) {
		dise_cli_json_print(rows);
		json_decref(rows);
		return 0;
	}
	for (i = 0; i < json_array_size(rows); i++) {
		json_t *row = json_array_get(rows, i);
		time_t t = (time_t)(dise_cli_num(row, "wall_ns") / 1000000000);
		const char *label = dise_cli_str(row, "label"), *detail = dise_cli_str(row, "detail");
		struct tm tm;
		char when[32], ver[96] = "-";

		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		if (json_object_get(row, "version")) {
			char id[32];

			snprintf(id, sizeof(id), "v%lld", (long long)dise_cli_num(row, "version"));
			if (label && strcmp(label, id))
				snprintf(ver, sizeof(ver), "%s (%s)", id, label);
			else
				snprintf(ver, sizeof(ver), "%s", id);
		}
		dise_cli_print(stdout, "%s  %s %s  %s %s", when, dise_cli_str(row, "tool") ? dise_cli_str(row, "tool") : "-", ver, dise_cli_str(row, "step"),
		       dise_cli_str(row, "result"));
		if (detail && detail[0])
			dise_cli_print(stdout, ": %s", detail);
		putchar('\n');
	}
	if (!json_array_size(rows))
		dise_cli_print(stdout, "nothing journaled%s%s\n", tool ? " for " : "", tool ? tool : "");
	json_decref(rows);
	return 0;
}
