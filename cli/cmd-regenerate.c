/* SPDX-License-Identifier: MIT */
/*
 * Healing forward (healer/regen.h): `dise regenerate TOOL [--from V]`,
 * `dise proposals [TOOL] [--all] [--json]`, `dise approve ID`,
 * `dise reject ID --why W`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "regen.h"
#include "store.h"

int dise_cli_regenerate(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_FROM = DISE_CLI_OPT_FIRST };
	static const struct option opts[] = { { "from", required_argument, NULL, OPT_FROM }, DISE_CLI_OPT_END };
	const char *tool, *from = NULL;
	char home[4096], why[1400];
	struct dise_config cfg;
	dise_store *st;
	int64_t id;
	int r;

	while (dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd) == OPT_FROM)
		from = optarg;
	tool = dise_cli_operands(argc, argv, 1, 1, cmd)[0];
	r = dise_cli_open_version(&tool, from, DISE_PICK_RESETTABLE, "pruned version to regenerate from", &st, home,
				  sizeof(home), &id);
	if (r)
		return r;
	if (dise_cli_load_config(home, &cfg)) {
		dise_store_free(st);
		return 1;
	}
	r = dise_regenerate(st, &cfg, tool, id, why, sizeof(why));
	dise_store_free(st);
	dise_config_free(&cfg);
	if (r < 0)
		return dise_cli_error(r, "regenerating %s from v%lld", tool, (long long)id);
	dise_cli_print(stdout, "%s: %s\n", tool, why);
	return r > 0 ? 0 : 1;
}

static void print_mutation(json_t *m, int diff)
{
	json_t *fit = json_object_get(m, "fitness");

	dise_cli_print(stdout, "mutation %lld  %s  %s  %s -> %s (from %s)%s%s\n", (long long)dise_cli_num(m, "id"),
		       dise_cli_str(m, "tool"), dise_cli_str(m, "verdict"), dise_cli_str(m, "ancestor"),
		       dise_cli_str(m, "version") ? dise_cli_str(m, "version") : "(no version)", dise_cli_str(m, "pruned"),
		       dise_cli_str(m, "strategy") ? ", " : "", dise_cli_str(m, "strategy") ? dise_cli_str(m, "strategy") : "");
	if (dise_cli_str(m, "reason"))
		dise_cli_print(stdout, "    %s\n", dise_cli_str(m, "reason"));
	if (json_is_real(fit))
		dise_cli_print(stdout, "    fitness %.3f; %s\n", json_real_value(fit),
			       dise_cli_str(m, "validation") ? dise_cli_str(m, "validation") : "");
	if (json_is_number(json_object_get(m, "confidence")))
		dise_cli_print(stdout, "    confidence %.2f\n", json_number_value(json_object_get(m, "confidence")));
	if (dise_cli_str(m, "model"))
		dise_cli_print(stdout, "    model %s, prompt sha256 %s, %lld tokens\n", dise_cli_str(m, "model"),
			       dise_cli_str(m, "prompt_sha256") ? dise_cli_str(m, "prompt_sha256") : "(none sent)",
			       (long long)dise_cli_num(m, "tokens"));
	for (const char *d = diff ? dise_cli_str(m, "diff") : NULL, *e; d && *d; d = *e ? e + 1 : e) {
		e = strchr(d, '\n'); /* line by line: each escaped for the terminal, its newline kept */
		e = e ? e : d + strlen(d);
		dise_cli_print(stdout, "    %.*s\n", (int)(e - d), d);
	}
}

/* The mutations of tool (NULL: all), into *rows. 0, or the exit status after saying why. */
static int mutations(const char *tool, json_t **rows)
{
	char home[4096], name[4096];
	dise_store *st;
	int r = dise_cli_open_store(1, &st, home, sizeof(home));

	if (r)
		return r;
	if (tool && (r = dise_cli_tool_name(st, tool, name, sizeof(name)))) {
		dise_store_free(st);
		return r;
	}
	r = dise_store_report(st, DISE_REPORT_MUTATIONS, tool ? name : NULL, 0, rows);
	dise_store_free(st);
	return r < 0 ? dise_cli_error(r, "reading the mutations") : 0;
}

int dise_cli_proposals(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_ALL = DISE_CLI_OPT_FIRST };
	static const struct option opts[] = { DISE_CLI_JSON, { "all", no_argument, NULL, OPT_ALL }, DISE_CLI_OPT_END };
	int c, json = 0, all = 0, n = 0, r;
	char **ops;
	json_t *rows = NULL, *out = json_array();
	size_t i;

	while ((c = dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd)) != -1)
		json |= c == DISE_CLI_OPT_JSON, all |= c == OPT_ALL;
	ops = dise_cli_operands(argc, argv, 0, 1, cmd);
	if ((r = mutations(ops[0], &rows))) {
		json_decref(out);
		return r;
	}
	for (i = 0; i < json_array_size(rows); i++) {
		json_t *m = json_array_get(rows, i);

		if (!all && strcmp(dise_cli_str(m, "verdict"), "proposed"))
			continue;
		n++;
		if (json)
			json_array_append(out, m);
		else
			print_mutation(m, 1);
	}
	if (json)
		dise_cli_json_print(out);
	else if (!n)
		dise_cli_print(stdout, all ? "no regeneration attempted\n" : "no proposals waiting (dise proposals --all: every attempt)\n");
	json_decref(out);
	json_decref(rows);
	return 0;
}

static int64_t mutation_id(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	return dise_cli_number(dise_cli_operands(argc, argv, 1, 1, cmd)[0], 1, INT64_MAX, "ID", cmd);
}

int dise_cli_approve(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	static const struct option opts[] = { DISE_CLI_OPT_END };
	char home[4096], who[128], why[600] = "";
	struct dise_config cfg;
	dise_store *st;
	int64_t id;
	int r;

	while (dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd) != -1)
		;
	id = mutation_id(argc, argv, cmd);
	if ((r = dise_cli_open_store(0, &st, home, sizeof(home))))
		return r;
	if (dise_cli_load_config(home, &cfg)) { /* its canary policy: a regenerated version may roll out */
		dise_store_free(st);
		return 1;
	}
	dise_cli_who(who, sizeof(who));
	r = dise_regen_approve(st, &cfg, id, who, why, sizeof(why));
	dise_store_free(st);
	dise_config_free(&cfg);
	if (r == -ENOENT && !why[0]) {
		dise_cli_print(stderr, "dise: no proposal %lld waiting (dise proposals)\n", (long long)id);
		return 1;
	}
	if (r < 0) {
		dise_cli_print(stderr, "dise: approving mutation %lld: %s\n", (long long)id, why[0] ? why : strerror(-r));
		return 1;
	}
	dise_cli_print(stdout, "mutation %lld approved: %s\n", (long long)id, why);
	return 0;
}

int dise_cli_reject(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_WHY = DISE_CLI_OPT_FIRST };
	static const struct option opts[] = { { "why", required_argument, NULL, OPT_WHY }, DISE_CLI_OPT_END };
	const char *reason = NULL;
	char home[4096], who[128];
	dise_store *st;
	int64_t id;
	int r;

	while (dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd) == OPT_WHY)
		reason = optarg;
	id = mutation_id(argc, argv, cmd);
	if ((r = dise_cli_open_store(0, &st, home, sizeof(home))))
		return r;
	dise_cli_who(who, sizeof(who));
	r = dise_regen_reject(st, id, who, reason);
	dise_store_free(st);
	if (r == -ENOENT) {
		dise_cli_print(stderr, "dise: no proposal %lld waiting (dise proposals)\n", (long long)id);
		return 1;
	}
	if (r < 0)
		return dise_cli_error(r, "refusing mutation %lld", (long long)id);
	dise_cli_print(stdout, "mutation %lld refused; its diff is not proposed again\n", (long long)id);
	return 0;
}

void dise_cli_regen_line(const char *tool)
{
	json_t *rows = NULL, *m;

	if (mutations(tool, &rows))
		return;
	m = json_array_get(rows, json_array_size(rows) - 1);
	if (!m)
		dise_cli_print(stdout, "regeneration: none attempted (rollback only, unless dise.json gives the tool "
				       "\"regenerate\" and a test_command)\n");
	else
		dise_cli_print(stdout, "regeneration: mutation %lld %s: %s\n", (long long)dise_cli_num(m, "id"),
			       dise_cli_str(m, "verdict"), dise_cli_str(m, "reason") ? dise_cli_str(m, "reason") : "");
	json_decref(rows);
}

void dise_cli_regen_say(json_t *rows)
{
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *m = json_array_get(rows, i);
		json_int_t locked = dise_cli_num(m, "locked_until_ns"), waiting = dise_cli_num(m, "proposals");
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		dise_cli_print(stdout, "regeneration: %s: mutation %lld %s: %s", dise_cli_str(m, "tool"),
			       (long long)dise_cli_num(m, "mutation"), dise_cli_str(m, "verdict"),
			       dise_cli_str(m, "reason") ? dise_cli_str(m, "reason") : "");
		if (waiting)
			dise_cli_print(stdout, "; %lld proposal%s waiting (dise proposals)", (long long)waiting, waiting == 1 ? "" : "s");
		if (locked > (json_int_t)now.tv_sec * 1000000000 + now.tv_nsec)
			dise_cli_print(stdout, "; LOCKED by the ratchet for %.0f s more",
				       (double)(locked - ((json_int_t)now.tv_sec * 1000000000 + now.tv_nsec)) / 1e9);
		dise_cli_print(stdout, "\n");
	}
}
