/* SPDX-License-Identifier: MIT */
/*
 * `dise lineage TOOL [--json | --dot]`: the versions of a tool with their
 * parents, health, runs and failures; --dot: a Graphviz digraph of the same. `dise tool add NAME --version V PATH
 * [--parent V0 ...]`: registers a version by hand (several parents: a merge).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "home.h"
#include "regen-source.h"
#include "resolve.h"
#include "store.h"
#include "store-regen.h"

/* s as the inside of a DOT double-quoted string */
static void dot_str(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
}

static const char *dot_colour(const char *health)
{
	switch (dise_health_from_name(health)) {
	case DISE_HEALTHY: return "palegreen";
	case DISE_DEGRADED: return "khaki";
	case DISE_PRUNED: return "lightpink";
	case DISE_FAILING: return "orange"; /* bad, nowhere to go: still run */
	default: return "tomato"; /* failed */
	}
}

void dise_cli_lineage_dot(FILE *f, const char *tool, json_t *rows)
{
	dise_cli_print(f, "digraph \"");
	dot_str(f, tool);
	dise_cli_print(f, "\" {\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fontname=\"monospace\"];\n");
	for (size_t ri = 0; ri < json_array_size(rows); ri++) {
		json_t *row = json_array_get(rows, ri);
		const char *sha = dise_cli_str(row, "sha256");
		const char *label = dise_cli_str(row, "label");
		const char *parents = dise_cli_str(row, "parents");
		const char *health = dise_cli_str(row, "health");
		const char *detection = dise_cli_str(row, "detection");
		long long id = (long long)dise_cli_num(row, "id");
		int route = (int)dise_cli_num(row, "route");

		dise_cli_print(f, "  v%lld [label=\"v%lld%s", id, id, label ? " " : "");
		dot_str(f, label);
		dise_cli_print(f, "\\n%.12s\\n%s\\nruns %lld, failures %lld", sha, health, (long long)dise_cli_num(row, "runs"),
		       (long long)dise_cli_num(row, "failures"));
		if (detection) {
			dise_cli_print(f, "\\n");
			dot_str(f, detection);
		}
		if (dise_cli_num(row, "mutation"))
			dise_cli_print(f, "\\nregenerated (mutation %lld)", (long long)dise_cli_num(row, "mutation"));
		dise_cli_print(f, "\", fillcolor=%s%s];\n", dot_colour(health), route ? ", peripheries=2, xlabel=\"route\"" : "");
		for (const char *p = parents; p && *p;) {
			dise_cli_print(f, "  v%lld -> v%lld;\n", strtoll(p, NULL, 10), id);
			p = strchr(p, ',');
			p = p ? p + 1 : NULL;
		}
	}
	fputs("}\n", f);
}

int dise_cli_lineage(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_DOT = DISE_CLI_OPT_FIRST };
	static const struct option opts[] = { DISE_CLI_JSON, { "dot", no_argument, NULL, OPT_DOT }, DISE_CLI_OPT_END };
	const char *tool = NULL;
	char home[4096], name[4096];
	int json = 0, dot = 0, c, r, n = 0;
	dise_store *st;
	json_t *arr, *rows;

	while ((c = dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd)) != -1) {
		switch (c) {
		case DISE_CLI_OPT_JSON: json = 1; break;
		case OPT_DOT: dot = 1; break;
		}
	}
	tool = dise_cli_operands(argc, argv, 1, 1, cmd)[0];
	if (json && dot)
		dise_cli_usage_error(cmd, "--json or --dot, not both");
	arr = json_array();
	r = dise_cli_open_store(1, &st, home, sizeof(home));
	if (r) {
		json_decref(arr);
		return r;
	}
	if ((r = dise_cli_tool_name(st, tool, name, sizeof(name)))) {
		dise_store_free(st);
		json_decref(arr);
		return r;
	}
	tool = name;
	r = dise_store_report(st, DISE_REPORT_LINEAGE, tool, 0, &rows);
	dise_store_free(st);
	if (r < 0) {
		json_decref(arr);
		return dise_cli_error(r, "reading the versions of '%s'", tool);
	}
	if (dot) {
		dise_cli_lineage_dot(stdout, tool, rows);
		json_decref(rows);
		json_decref(arr);
		return 0;
	}
	for (size_t ri = 0; ri < json_array_size(rows); ri++) {
		json_t *row = json_array_get(rows, ri);
		const char *sha = dise_cli_str(row, "sha256");
		const char *label = dise_cli_str(row, "label");
		const char *parents = dise_cli_str(row, "parents");
		const char *health = dise_cli_str(row, "health");
		const char *request = dise_cli_str(row, "heal_request"), *detection = dise_cli_str(row, "detection");
		long long id = (long long)dise_cli_num(row, "id");
		int route = (int)dise_cli_num(row, "route");
		json_t *pj = json_array();

		for (const char *p = parents; p && *p;) {
			json_array_append_new(pj, json_integer(strtoll(p, NULL, 10)));
			p = strchr(p, ',');
			p = p ? p + 1 : NULL;
		}
		n++;
		if (json) {
			const char *path = dise_cli_str(row, "path");
			json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:o,s:I,s:I,s:I}", "id", (json_int_t)id, "sha256", sha, "path",
					      path ? path : "", "health", health, "parents", pj, "runs", dise_cli_num(row, "runs"),
					      "failures", dise_cli_num(row, "failures"), "crashes", dise_cli_num(row, "crashes"));

			json_object_set_new(o, "redirected", json_integer(dise_cli_num(row, "redirected")));
			if (dise_cli_str(row, "route_for"))
				json_object_set_new(o, "route_for", json_string(dise_cli_str(row, "route_for")));
			if (dise_cli_str(row, "at_paths"))
				json_object_set_new(o, "at_paths", json_string(dise_cli_str(row, "at_paths")));
			if (dise_cli_str(row, "arm"))
				json_object_set_new(o, "arm", json_string(dise_cli_str(row, "arm")));

			if (label)
				json_object_set_new(o, "label", json_string(label));
			if (dise_cli_str(row, "cas_path"))
				json_object_set_new(o, "cas_path", json_string(dise_cli_str(row, "cas_path")));
			if (request) {
				json_object_set_new(o, "heal_request", json_string(request));
				json_object_set_new(o, "detection", json_string(detection));
			}
			if (dise_cli_str(row, "went_wrong"))
				json_object_set_new(o, "went_wrong", json_string(dise_cli_str(row, "went_wrong")));
			if (dise_cli_num(row, "mutation"))
				json_object_set_new(o, "mutation", json_integer(dise_cli_num(row, "mutation")));
			json_object_set_new(o, "route", json_boolean(route));
			json_array_append_new(arr, o);
		} else {
			/* by its label (v1, v2, … within the tool), then its id (what --version also takes) */
			const char *plabels = dise_cli_str(row, "parent_labels");

			const char *route_for = dise_cli_str(row, "route_for"), *at = dise_cli_str(row, "at_paths");
			long long redirected = (long long)dise_cli_num(row, "redirected");

			dise_cli_print(stdout, "%-10s id %-5lld %.12s %-8s runs %lld", label ? label : "-", id, sha, health,
			       (long long)dise_cli_num(row, "runs"));
			if (redirected)
				dise_cli_print(stdout, ", %lld redirected", redirected);
			dise_cli_print(stdout, ", failures %lld, crashes %lld%s%s", (long long)dise_cli_num(row, "failures"),
			       (long long)dise_cli_num(row, "crashes"), plabels ? ", parents " : "", plabels ? plabels : "");
			if (route)
				dise_cli_print(stdout, "   <- route: runs in place of %s", route_for ? route_for : "no pruned version");
			if (at)
				dise_cli_print(stdout, "   <- at %s", at);
			if (dise_cli_str(row, "arm"))
				dise_cli_print(stdout, "   <- canary rollout: %s", dise_cli_str(row, "arm"));
			putchar('\n');
			if (request)
				dise_cli_print(stdout, "      heal request %s: %s\n", request, detection);
			if (dise_cli_str(row, "went_wrong"))
				dise_cli_print(stdout, "      went wrong: %s\n", dise_cli_str(row, "went_wrong"));
			if (dise_cli_num(row, "mutation"))
				dise_cli_print(stdout, "      regenerated by mutation %lld (dise proposals --all %s)\n",
					       (long long)dise_cli_num(row, "mutation"), tool);
			json_decref(pj);
		}
	}
	json_decref(rows);
	if (json) {
		dise_cli_json_print(arr);
	} else if (!n) {
		dise_cli_print(stdout, "no versions of '%s' recorded\n", tool);
	} else {
		dise_cli_regen_line(tool);
	}
	json_decref(arr);
	return 0;
}

int dise_cli_tool(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_VERSION = DISE_CLI_OPT_FIRST, OPT_PARENT, OPT_REV };
	static const struct option opts[] = { { "version", required_argument, NULL, OPT_VERSION },
					      { "parent", required_argument, NULL, OPT_PARENT },
					      { "rev", required_argument, NULL, OPT_REV }, DISE_CLI_OPT_END };
	const char *name = NULL, *label = NULL, *path = NULL, *rev = NULL;
	char home[4096], cas[4200], **operands;
	char **parents = calloc((size_t)argc, sizeof(char *));
	int np = 0, c, r;
	dise_store *st;
	dise_resolver *rs;
	int64_t id;

	if (!parents)
		return dise_cli_error(-ENOMEM, "tool add");
	while ((c = dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd)) != -1) {
		switch (c) {
		case OPT_VERSION: label = optarg; break;
		case OPT_PARENT: parents[np++] = optarg; break;
		case OPT_REV: rev = optarg; break;
		}
	}
	operands = dise_cli_operands(argc, argv, 1, 3, cmd);
	if (strcmp(operands[0], "add"))
		dise_cli_usage_error(cmd, "unknown tool command '%s' (add)", operands[0]);
	dise_cli_operands(argc, argv, 3, 3, cmd);
	name = operands[1];
	path = operands[2];
	if (!label)
		dise_cli_usage_error(cmd, "--version V is required");
	if (rev && !dise_rev_name_ok(rev))
		dise_cli_usage_error(cmd, "--rev '%s' is not a git revision name (letters, digits, '._/-', not starting "
					  "with '-')",
				     rev);
	r = dise_cli_open_store(0, &st, home, sizeof(home));
	if (r) {
		free(parents);
		return r;
	}
	if (dise_path_join(cas, sizeof(cas), home, "cas") < 0 || (r = dise_resolver_new(st, cas, &rs)) < 0) {
		dise_store_free(st);
		free(parents);
		return dise_cli_error(r, "content store");
	}
	r = dise_resolver_register(rs, name, label, path, parents, np, &id);
	if (r == 0 && rev) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		r = dise_store_version_rev_set(st, id, rev, "cli", (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
	}
	dise_resolver_free(rs);
	dise_store_free(st);
	free(parents);
	if (r == -ENOENT && np)
		return 1; /* a missing parent: already said */
	if (r < 0)
		return dise_cli_error(r, "cannot register '%s'", path);
	dise_cli_print(stdout, "%s %s registered as v%lld\n", name, label, (long long)id);
	return 0;
}
