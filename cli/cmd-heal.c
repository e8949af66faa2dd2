/* SPDX-License-Identifier: MIT */
/* `dise heal TOOL [--version V]`, `dise pruned [--json]`, `dise rules [--json]`. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "heal.h"
#include "home.h"
#include "store.h"

/* cli.h: the version a command means, the store open for writing */
int dise_cli_open_version(const char **toolp, const char *ver, enum dise_pick otherwise, const char *none, dise_store **st,
			  char *home, size_t hsize, int64_t *id)
{
	static char name[4096];
	const char *tool;
	int r = dise_cli_open_store(0, st, home, hsize);

	if (r)
		return r;
	/* TOOL: a path, a group's name, or a file name only one tool has */
	if ((r = dise_cli_tool_name(*st, *toolp, name, sizeof(name)))) {
		dise_store_free(*st);
		return r;
	}
	tool = *toolp = name;
	/* the version a command means: by label, by id (v12 or 12), else the newest of the tool it may act on */
	r = dise_store_version_pick(*st, tool, ver, otherwise, id);
	if (r < 0) {
		dise_store_free(*st);
		return dise_cli_error(r, "looking up tool '%s'", tool);
	}
	if (r == 0) {
		dise_cli_print(stderr, "dise: tool '%s' has no %s%s\n", tool, ver ? "version " : none, ver ? ver : "");
		dise_store_free(*st);
		return 1;
	}
	return 0;
}

/* Who runs this command: the user name of the real uid (not $USER: unset for root under cron, sudo, su). */
void dise_cli_who(char *buf, size_t size)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];
	uid_t uid = getuid();

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res && res->pw_name && res->pw_name[0])
		snprintf(buf, size, "%s (uid %u)", res->pw_name, (unsigned)uid);
	else
		snprintf(buf, size, "uid %u", (unsigned)uid);
}

/*
 * Whether the collector of home runs (someone holds the flock of its lock
 * file: cli/cmd-collector.c): it is what publishes the routes to the shim.
 */
static int collector_runs(const char *home)
{
	char lock[4200];
	struct stat st;
	int fd, held;

	if (dise_path_join(lock, sizeof(lock), home, "collector.lock") < 0)
		return 0;
	fd = dise_open_regular(lock, 1, &st); /* never waits on a FIFO */
	if (fd < 0)
		return 0;
	held = flock(fd, LOCK_SH | LOCK_NB) != 0;
	close(fd);
	return held;
}

/* How many files of tool the route table in effect routes (the collector's last publication), or -errno. */
static int route_files(dise_store *st, const char *tool)
{
	json_t *rows = NULL;
	size_t i;
	int n = 0, r = dise_store_report(st, DISE_REPORT_ROUTE_PLACEMENTS, NULL, 0, &rows);

	for (i = 0; r == 0 && i < json_array_size(rows); i++) {
		json_t *p = json_array_get(rows, i);

		n += dise_cli_str(p, "target") && dise_cli_str(p, "tool") && !strcmp(dise_cli_str(p, "tool"), tool);
	}
	json_decref(rows);
	return r < 0 ? r : n;
}

/* The labels of tool's pruned versions other than id, into buf; how many, or -errno. */
static int other_pruned(dise_store *st, const char *tool, int64_t id, char *buf, size_t size)
{
	json_t *rows = NULL;
	size_t i, len = 0;
	int n = 0, r = dise_store_report(st, DISE_REPORT_LINEAGE, tool, 0, &rows);

	buf[0] = '\0';
	for (i = 0; r == 0 && i < json_array_size(rows); i++) {
		json_t *v = json_array_get(rows, i);
		const char *label = dise_cli_str(v, "label");

		if (dise_cli_num(v, "id") == id || !dise_cli_str(v, "health") || strcmp(dise_cli_str(v, "health"), "pruned"))
			continue;
		if (len < size)
			len += (size_t)snprintf(buf + len, size - len, "%s%s", n ? ", " : "", label ? label : "?");
		n++;
	}
	json_decref(rows);
	return r < 0 ? r : n;
}

/* The health of tool's version id into buf (NULL when not found). */
static const char *version_health(dise_store *st, const char *tool, int64_t id, char *buf, size_t size)
{
	json_t *rows = NULL;
	const char *h = NULL;
	size_t i;

	if (dise_store_report(st, DISE_REPORT_LINEAGE, tool, 0, &rows) < 0)
		return NULL;
	for (i = 0; i < json_array_size(rows); i++)
		if (dise_cli_num(json_array_get(rows, i), "id") == id && dise_cli_str(json_array_get(rows, i), "health")) {
			snprintf(buf, size, "%s", dise_cli_str(json_array_get(rows, i), "health"));
			h = buf;
		}
	json_decref(rows);
	return h;
}

int dise_cli_reset(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_VERSION = DISE_CLI_OPT_FIRST, OPT_WHY };
	static const struct option opts[] = { { "version", required_argument, NULL, OPT_VERSION },
					      { "why", required_argument, NULL, OPT_WHY }, DISE_CLI_OPT_END };
	const char *tool = NULL, *ver = NULL, *why = NULL;
	char home[4096], who[64], others_buf[512];
	dise_store *st;
	int64_t id;
	int c, r, placed, others;

	while ((c = dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd)) != -1) {
		switch (c) {
		case OPT_VERSION: ver = optarg; break;
		case OPT_WHY: why = optarg; break;
		}
	}
	tool = dise_cli_operands(argc, argv, 1, 1, cmd)[0];
	r = dise_cli_open_version(&tool, ver, DISE_PICK_RESETTABLE, "pruned version", &st, home, sizeof(home), &id);
	if (r)
		return r;
	dise_cli_who(who, sizeof(who));
	/* what the shim does now, before the reset: the route table it reads is the collector's last one */
	placed = route_files(st, tool);
	others = other_pruned(st, tool, id, others_buf, sizeof(others_buf));
	r = dise_heal_reset(st, id, who, why);
	dise_store_free(st);
	if (r < 0)
		return dise_cli_error(r, "resetting %s v%lld", tool, (long long)id);
	dise_cli_print(stdout, "%s v%lld is healthy again, its strikes cleared", tool, (long long)id);
	if (others > 0) /* the route stays for them (dise_store_version_reset): only this version's files leave it */
		dise_cli_print(stdout, "; the route of %s stays for its other pruned version%s (%s); v%lld's files %s\n",
			       tool, others == 1 ? "" : "s", others_buf, (long long)id, !collector_runs(home) ? "run as they are once the collector runs and publishes the "
			       "routes (dise collector start; until then the route table it last published applies)" :
			       "run as they are once the collector publishes the routes (within a second)");
	else if (placed <= 0)
		dise_cli_print(stdout, "; no route of %s was in effect: watched runs already ran the files at its paths\n", tool);
	else if (collector_runs(home)) /* the shim follows the route table the collector publishes, not the database */
		dise_cli_print(stdout, "; the route of %s (%d file%s) is dropped once the collector publishes the routes (within a "
			       "second), and its copies beside the originals removed\n",
			       tool, placed, placed == 1 ? "" : "s");
	else
		dise_cli_print(stdout, "; the collector is not running: the route of %s (%d file%s) still applies to watched runs "
			       "until it runs and publishes the routes (dise collector start)\n",
			       tool, placed, placed == 1 ? "" : "s");
	return 0;
}

int dise_cli_heal(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_VERSION = DISE_CLI_OPT_FIRST };
	static const struct option opts[] = { { "version", required_argument, NULL, OPT_VERSION }, DISE_CLI_OPT_END };
	const char *tool = NULL, *ver = NULL;
	char home[4096], health_buf[32], label[96];
	const char *health = NULL;
	struct dise_config cfg;
	dise_store *st;
	int64_t id;
	int r;

	while (dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd) == OPT_VERSION)
		ver = optarg;
	tool = dise_cli_operands(argc, argv, 1, 1, cmd)[0];
	r = dise_cli_open_version(&tool, ver, DISE_PICK_HEALABLE, "version to heal", &st, home, sizeof(home), &id);
	if (r)
		return r;
	if (dise_cli_load_config(home, &cfg)) {
		dise_store_free(st);
		return 1;
	}
	r = dise_heal_now(st, &cfg, id);
	if (r == 0)
		health = version_health(st, tool, id, health_buf, sizeof(health_buf));
	/* said by its label, as dise lineage shows it (v2), with the id the other commands also take */
	{
		char byid[24];

		snprintf(byid, sizeof(byid), "v%lld", (long long)id);
		if (dise_store_version_label(st, id, label, sizeof(label)) < 0 || !label[0])
			snprintf(label, sizeof(label), "%s", byid);
		else if (strcmp(label, byid))
			snprintf(label + strlen(label), sizeof(label) - strlen(label), " (version %lld)", (long long)id);
	}
	dise_store_free(st);
	if (r < 0) {
		dise_config_free(&cfg);
		return dise_cli_error(r, "healing %s v%lld", tool, (long long)id);
	}
	if (dise_config_freezes(&cfg, tool))
		dise_cli_print(stdout, "%s %s marked failed; its policy freezes: nothing pruned or routed\n", tool, label);
	else if (health && !strcmp(health, "pruned"))
		dise_cli_print(stdout, "%s %s pruned; see 'dise lineage %s'\n", tool, label, tool);
	else /* no healthy ancestor: nothing pruned (policy.c) */
		dise_cli_print(stdout, "%s %s not pruned: it is %s (no healthy ancestor to run instead); see 'dise lineage %s'\n",
			       tool, label, health ? health : "unknown", tool);
	dise_config_free(&cfg);
	return 0;
}

int dise_cli_load_config(const char *home, struct dise_config *cfg)
{
	char conf[4096], err[512];
	int r;

	/* the same policy the collector heals by: $DISE_HOME/dise.json */
	if (dise_path_join(conf, sizeof(conf), home, "dise.json") < 0)
		r = -ENAMETOOLONG, snprintf(err, sizeof(err), "the state directory's path is too long");
	else
		r = dise_config_load(conf, cfg, err, sizeof(err));
	if (r < 0) {
		dise_cli_print(stderr, "dise: %s\n", err);
		return 1;
	}
	return 0;
}

/* Prints the rows of a report as JSON objects (column name -> value) or as text lines. */
static int list(int json, const char *what, enum dise_report report)
{
	char home[4096];
	int r;
	dise_store *st;
	json_t *arr;
	size_t i;

	r = dise_cli_open_store(1, &st, home, sizeof(home));
	if (r)
		return r;
	r = dise_store_report(st, report, NULL, 0, &arr);
	dise_store_free(st);
	if (r < 0)
		return dise_cli_error(r, "reading the %s", what);
	for (i = 0; !json && i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i), *v;
		const char *name;
		int first = 1;

		json_object_foreach(o, name, v) {
			if (json_is_integer(v))
				dise_cli_print(stdout, "%s%s=%lld", first ? "" : "  ", name, (long long)json_integer_value(v));
			else
				dise_cli_print(stdout, "%s%s=%s", first ? "" : "  ", name, json_string_value(v));
			first = 0;
		}
		putchar('\n');
	}
	if (json) {
		dise_cli_json_print(arr);
	} else if (!json_array_size(arr)) {
		dise_cli_print(stdout, "no %s\n", what);
	}
	json_decref(arr);
	return 0;
}

int dise_cli_pruned(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	return list(dise_cli_parse_json(argc, argv, cmd), "pruned versions", DISE_REPORT_PRUNED);
}

int dise_cli_rules(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	return list(dise_cli_parse_json(argc, argv, cmd), "rules", DISE_REPORT_RULES);
}
