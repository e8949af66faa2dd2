/* SPDX-License-Identifier: MIT */
/*
 * `dise lineage TOOL [--json | --dot]`: the versions of a tool with their
 * parents, health, runs and failures; --dot: a Graphviz digraph of the same. `dise tool add NAME --version V PATH
 * [--parent V0 ...]`: registers a version by hand (several parents: a merge).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "home.h"
#include "resolve.h"
#include "store.h"

/* s as the inside of a DOT double-quoted string */
static void dot_str(const char *s)
{
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		if ((unsigned char)*s >= 0x20)
			putchar(*s);
	}
}

static const char *dot_colour(const char *health)
{
	if (!strcmp(health, "healthy"))
		return "palegreen";
	if (!strcmp(health, "degraded"))
		return "khaki";
	if (!strcmp(health, "pruned"))
		return "lightpink";
	return "tomato"; /* failed */
}

int dise_cli_lineage(int argc, char **argv)
{
	const char *tool = NULL;
	char home[4096];
	int json = 0, dot = 0, i, r, n = 0;
	dise_store *st;
	sqlite3_stmt *q;
	json_t *arr = json_array();

	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--dot"))
			dot = 1;
		else if (!tool && argv[i][0] != '-')
			tool = argv[i];
		else
			tool = NULL, i = argc;
	}
	if (!tool || (json && dot)) {
		fprintf(stderr, "usage: dise lineage TOOL [--json | --dot]\n");
		json_decref(arr);
		return 2;
	}
	r = dise_cli_open_store(1, &st, home, sizeof(home));
	if (r) {
		json_decref(arr);
		return r;
	}
	if (sqlite3_prepare_v2(dise_store_db(st),
			       "SELECT v.id, v.sha256, v.label, v.path, v.health, v.first_seen_wall_ns, v.cas_path, "
			       "(SELECT group_concat(parent_id) FROM version_parents p WHERE p.version_id = v.id), "
			       "(SELECT count(*) FROM runs r WHERE r.version_id = v.id), "
			       "(SELECT count(*) FROM runs r WHERE r.version_id = v.id AND dise_failed(r.outcome, r.exit_status, NULL)), "
			       "(SELECT count(*) FROM runs r WHERE r.version_id = v.id AND r.outcome = 'crash'), "
			       "(SELECT h.state FROM heal_requests h WHERE h.version_id = v.id ORDER BY h.id DESC LIMIT 1), "
			       "(SELECT 1 FROM routes r WHERE r.tool = v.tool AND r.version_id = v.id), "
			       "(SELECT x.detector || ': ' || x.description FROM heal_requests h JOIN failures x "
			       " ON x.id = h.failure_id WHERE h.version_id = v.id ORDER BY h.id DESC LIMIT 1) "
			       "FROM versions v WHERE v.tool = ?1 ORDER BY v.id",
			       -1, &q, NULL) != SQLITE_OK) {
		fprintf(stderr, "dise: %s\n", dise_store_errmsg(st));
		dise_store_free(st);
		json_decref(arr);
		return 1;
	}
	sqlite3_bind_text(q, 1, tool, -1, SQLITE_STATIC);
	if (dot) {
		printf("digraph \"");
		dot_str(tool);
		printf("\" {\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fontname=\"monospace\"];\n");
	}
	while ((r = dise_sql_step(q)) > 0) {
		const char *sha = (const char *)sqlite3_column_text(q, 1);
		const char *label = (const char *)sqlite3_column_text(q, 2);
		const char *parents = (const char *)sqlite3_column_text(q, 7);
		json_t *pj = json_array();

		for (const char *p = parents; p && *p;) {
			json_array_append_new(pj, json_integer(strtoll(p, NULL, 10)));
			p = strchr(p, ',');
			p = p ? p + 1 : NULL;
		}
		n++;
		if (dot) {
			long long id = (long long)sqlite3_column_int64(q, 0);
			const char *health = (const char *)sqlite3_column_text(q, 4);

			printf("  v%lld [label=\"v%lld%s", id, id, label ? " " : "");
			dot_str(label);
			printf("\\n%.12s\\n%s\\nruns %lld, failures %lld", sha, health, (long long)sqlite3_column_int64(q, 8),
			       (long long)sqlite3_column_int64(q, 9));
			if (sqlite3_column_text(q, 13)) {
				printf("\\n");
				dot_str((const char *)sqlite3_column_text(q, 13));
			}
			printf("\", fillcolor=%s%s];\n", dot_colour(health),
			       sqlite3_column_int(q, 12) ? ", peripheries=2, xlabel=\"route\"" : "");
			for (size_t k = 0; k < json_array_size(pj); k++)
				printf("  v%lld -> v%lld;\n", (long long)json_integer_value(json_array_get(pj, k)), id);
			json_decref(pj);
		} else if (json) {
			json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:o,s:I,s:I,s:I}", "id", (json_int_t)sqlite3_column_int64(q, 0),
					      "sha256", sha, "path",
					      sqlite3_column_text(q, 3) ? (const char *)sqlite3_column_text(q, 3) : "",
					      "health", (const char *)sqlite3_column_text(q, 4), "parents", pj, "runs",
					      (json_int_t)sqlite3_column_int64(q, 8), "failures",
					      (json_int_t)sqlite3_column_int64(q, 9), "crashes",
					      (json_int_t)sqlite3_column_int64(q, 10));

			if (label)
				json_object_set_new(o, "label", json_string(label));
			if (sqlite3_column_text(q, 6))
				json_object_set_new(o, "cas_path", json_string((const char *)sqlite3_column_text(q, 6)));
			if (sqlite3_column_text(q, 11)) {
				json_object_set_new(o, "heal_request", json_string((const char *)sqlite3_column_text(q, 11)));
				json_object_set_new(o, "detection", json_string((const char *)sqlite3_column_text(q, 13)));
			}
			json_object_set_new(o, "route", json_boolean(sqlite3_column_int(q, 12)));
			json_array_append_new(arr, o);
		} else {
			printf("v%-4lld %.12s %-10s %-8s runs %lld, failures %lld, crashes %lld%s%s%s\n",
			       (long long)sqlite3_column_int64(q, 0), sha, label ? label : "-",
			       (const char *)sqlite3_column_text(q, 4), (long long)sqlite3_column_int64(q, 8),
			       (long long)sqlite3_column_int64(q, 9), (long long)sqlite3_column_int64(q, 10),
			       parents ? ", parents v" : "", parents ? parents : "",
			       sqlite3_column_int(q, 12) ? "   <- route" : "");
			if (sqlite3_column_text(q, 11))
				printf("      heal request %s: %s\n", (const char *)sqlite3_column_text(q, 11),
				       (const char *)sqlite3_column_text(q, 13));
			json_decref(pj);
		}
	}
	sqlite3_finalize(q);
	dise_store_free(st);
	if (r < 0) {
		json_decref(arr);
		return dise_cli_error(r, "reading the versions of '%s'", tool);
	}
	if (dot) {
		puts("}");
	} else if (json) {
		json_dumpf(arr, stdout, JSON_COMPACT);
		putchar('\n');
	} else if (!n) {
		printf("no versions of '%s' recorded\n", tool);
	}
	json_decref(arr);
	return 0;
}

int dise_cli_tool(int argc, char **argv)
{
	const char *name = NULL, *label = NULL, *path = NULL;
	char home[4096], cas[4200];
	char **parents = calloc((size_t)argc, sizeof(char *));
	int np = 0, i, r;
	dise_store *st;
	dise_resolver *rs;
	int64_t id;

	if (argc >= 3 && !strcmp(argv[2], "add")) {
		for (i = 3; i < argc; i++) {
			if (!strcmp(argv[i], "--version") && i + 1 < argc)
				label = argv[++i];
			else if (!strcmp(argv[i], "--parent") && i + 1 < argc)
				parents[np++] = argv[++i];
			else if (!name)
				name = argv[i];
			else if (!path)
				path = argv[i];
			else
				name = NULL, i = argc;
		}
	}
	if (!name || !label || !path) {
		fprintf(stderr, "usage: dise tool add NAME --version V PATH [--parent V0 ...]\n");
		free(parents);
		return 2;
	}
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
	dise_resolver_free(rs);
	dise_store_free(st);
	free(parents);
	if (r == -ENOENT && np)
		return 1; /* a missing parent: already said */
	if (r < 0)
		return dise_cli_error(r, "cannot register '%s'", path);
	printf("%s %s registered as v%lld\n", name, label, (long long)id);
	return 0;
}
