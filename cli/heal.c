/* SPDX-License-Identifier: MIT */
/* `dise heal TOOL [--version V]`, `dise pruned [--json]`, `dise rules [--json]`. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "heal.h"
#include "home.h"
#include "store.h"

/*
 * The version a command means: by label, by id (v12 or 12), else the newest
 * of the tool matching `otherwise`. 0 when none, -errno when it cannot tell.
 */
static int64_t pick_version(dise_store *st, const char *tool, const char *ver, const char *otherwise)
{
	sqlite3_stmt *q;
	int64_t id = 0;
	char sql[256];
	int r = -EIO;

	snprintf(sql, sizeof(sql), "SELECT max(id) FROM versions WHERE tool = ?1 AND %s", otherwise);
	if (sqlite3_prepare_v2(dise_store_db(st),
			       ver ? "SELECT id FROM versions WHERE tool = ?1 AND (label = ?2 OR id = CAST(ltrim(?2, 'v') AS INTEGER))"
				   : sql,
			       -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, tool, -1, SQLITE_STATIC);
		if (ver)
			sqlite3_bind_text(q, 2, ver, -1, SQLITE_STATIC);
		if ((r = dise_sql_step(q)) > 0)
			id = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	return r < 0 ? r : id;
}

/*
 * Opens the store for writing and finds tool's version (ver, or the newest
 * matching `otherwise`; `none` names what is missing). Returns 0 with *st
 * and *id, or the exit status after saying why.
 */
static int open_version(const char *tool, const char *ver, const char *otherwise, const char *none, dise_store **st,
			char *home, size_t hsize, int64_t *id)
{
	int r = dise_cli_open_store(0, st, home, hsize);

	if (r)
		return r;
	*id = pick_version(*st, tool, ver, otherwise);
	if (*id < 0) {
		dise_store_free(*st);
		return dise_cli_error((int)*id, "looking up tool '%s'", tool);
	}
	if (!*id) {
		fprintf(stderr, "dise: tool '%s' has no %s%s\n", tool, ver ? "version " : none, ver ? ver : "");
		dise_store_free(*st);
		return 1;
	}
	return 0;
}

int dise_cli_reset(int argc, char **argv)
{
	const char *tool = NULL, *ver = NULL, *why = NULL;
	char home[4096], who[64];
	dise_store *st;
	int64_t id;
	int i, r;

	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--version") && i + 1 < argc)
			ver = argv[++i];
		else if (!strcmp(argv[i], "--why") && i + 1 < argc)
			why = argv[++i];
		else if (!tool)
			tool = argv[i];
		else
			tool = NULL, i = argc;
	}
	if (!tool) {
		fprintf(stderr, "usage: dise reset TOOL [--version V] [--why TEXT]\n");
		return 2;
	}
	r = open_version(tool, ver, "health IN ('pruned', 'failed')", "pruned version", &st, home, sizeof(home), &id);
	if (r)
		return r;
	snprintf(who, sizeof(who), "%s (uid %u)", getenv("USER") ? getenv("USER") : "?", (unsigned)getuid());
	r = dise_heal_reset(st, id, who, why);
	dise_store_free(st);
	if (r < 0)
		return dise_cli_error(r, "resetting %s v%lld", tool, (long long)id);
	printf("%s v%lld is healthy again, its strikes cleared and the route dropped\n", tool, (long long)id);
	return 0;
}

int dise_cli_heal(int argc, char **argv)
{
	const char *tool = NULL, *ver = NULL;
	char home[4096], conf[4096], err[512];
	struct dise_config cfg;
	dise_store *st;
	int64_t id;
	int i, r;

	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--version") && i + 1 < argc)
			ver = argv[++i];
		else if (!tool)
			tool = argv[i];
		else
			tool = NULL, i = argc;
	}
	if (!tool) {
		fprintf(stderr, "usage: dise heal TOOL [--version V]\n");
		return 2;
	}
	r = open_version(tool, ver, "health != 'pruned'", "version to heal", &st, home, sizeof(home), &id);
	if (r)
		return r;
	/* the same policy the collector heals by: $DISE_HOME/dise.json */
	if (dise_path_join(conf, sizeof(conf), home, "dise.json") < 0)
		r = -ENAMETOOLONG, snprintf(err, sizeof(err), "the state directory's path is too long");
	else
		r = dise_config_load(conf, &cfg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "dise: %s\n", err);
		dise_store_free(st);
		return 1;
	}
	r = dise_heal_now(st, &cfg, id);
	dise_store_free(st);
	if (r < 0) {
		dise_config_free(&cfg);
		return dise_cli_error(r, "healing %s v%lld", tool, (long long)id);
	}
	if (dise_config_freezes(&cfg, tool))
		printf("%s v%lld marked failed; its policy freezes: nothing pruned or routed\n", tool, (long long)id);
	else
		printf("%s v%lld pruned; see 'dise lineage %s'\n", tool, (long long)id, tool);
	dise_config_free(&cfg);
	return 0;
}

/* Prints rows of a query as JSON objects (column name -> value) or as text lines. */
static int list(int argc, char **argv, const char *what, const char *sql)
{
	char home[4096];
	int json = argc > 2 && !strcmp(argv[2], "--json"), r, i, rows = 0;
	dise_store *st;
	sqlite3_stmt *q;
	json_t *arr = json_array();

	r = dise_cli_open_store(1, &st, home, sizeof(home));
	if (r) {
		json_decref(arr);
		return r;
	}
	if (sqlite3_prepare_v2(dise_store_db(st), sql, -1, &q, NULL) != SQLITE_OK) {
		fprintf(stderr, "dise: %s\n", dise_store_errmsg(st));
		dise_store_free(st);
		json_decref(arr);
		return 1;
	}
	while ((r = dise_sql_step(q)) > 0) {
		json_t *o = json_object();

		rows++;
		for (i = 0; i < sqlite3_column_count(q); i++) {
			const char *name = sqlite3_column_name(q, i);

			switch (sqlite3_column_type(q, i)) {
			case SQLITE_INTEGER: json_object_set_new(o, name, json_integer(sqlite3_column_int64(q, i))); break;
			case SQLITE_NULL: break;
			default: json_object_set_new(o, name, json_string((const char *)sqlite3_column_text(q, i)));
			}
			if (!json && sqlite3_column_type(q, i) != SQLITE_NULL)
				printf("%s%s=%s", i ? "  " : "", name, (const char *)sqlite3_column_text(q, i));
		}
		if (!json)
			putchar('\n');
		json_array_append_new(arr, o);
	}
	sqlite3_finalize(q);
	dise_store_free(st);
	if (r < 0) {
		json_decref(arr);
		return dise_cli_error(r, "reading the %s", what);
	}
	if (json) {
		json_dumpf(arr, stdout, JSON_COMPACT);
		putchar('\n');
	} else if (!rows) {
		printf("no %s\n", what);
	}
	json_decref(arr);
	return 0;
}

int dise_cli_pruned(int argc, char **argv)
{
	return list(argc, argv, "pruned versions",
		    "SELECT v.tool, v.id AS version, substr(v.sha256, 1, 12) AS sha256, v.label, "
		    "(SELECT group_concat(t.id) FROM versions t WHERE t.tainted_by = v.id) AS tainted, "
		    "(SELECT x.detector || ': ' || x.description FROM heal_requests h JOIN failures x ON x.id = h.failure_id "
		    " WHERE h.version_id = v.id ORDER BY h.id DESC LIMIT 1) AS why, "
		    "(SELECT version_id FROM routes r WHERE r.tool = v.tool) AS routed_to "
		    "FROM versions v WHERE v.health = 'pruned' ORDER BY v.id");
}

int dise_cli_rules(int argc, char **argv)
{
	return list(argc, argv, "rules",
		    "SELECT id, tool, source_version, scope, description, signature, exit_code, signal, argv, reason, "
		    "(SELECT count(*) FROM rule_checks c WHERE c.rule_id = r.id AND c.result != 'not_covered') AS covers, "
		    "(SELECT count(*) FROM rule_checks c WHERE c.rule_id = r.id AND c.result = 'passed') AS replay_passed, "
		    "(SELECT group_concat(c.version_id) FROM rule_checks c WHERE c.rule_id = r.id AND c.result = 'failed') "
		    "AS refused_versions "
		    "FROM rules r ORDER BY id");
}
