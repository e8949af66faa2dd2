/* SPDX-License-Identifier: MIT */
/*
 * `dise canary [--all] [--json]`: the canary rollouts (collector/canary.c),
 * each with its tool, stable and canary versions, step and weight, the
 * runs and failures of each arm at this step, the time at the step and the
 * verdict so far. `dise canary promote|abort TOOL`: by hand, journaled with
 * who; the collector publishes the new weights within a second.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "canary.h"
#include "cli.h"
#include "config.h"
#include "home.h"
#include "record.h"
#include "store.h"

static json_t *arm_json(const struct dise_arm_stats *a)
{
	return json_pack("{s:I, s:I, s:f}", "runs", (json_int_t)a->runs, "failures", (json_int_t)a->failures,
			 "median_ms", a->median_ns / 1e6);
}

/* One rollout as JSON: the row, its arms at this step, its verdict so far. */
static json_t *rollout_json(dise_store *st, const struct dise_config *cfg, const struct dise_canary *c, int64_t now)
{
	struct dise_arm_stats k, s;
	int64_t since = c->step_wall_ns, end = c->ended_wall_ns ? c->ended_wall_ns : now;
	char verdict[1024];
	int due = dise_canary_verdict(st, cfg, c, now, verdict, sizeof(verdict));

	if (dise_store_arm_stats(st, c->canary, since, &k) < 0 || dise_store_arm_stats(st, c->stable, since, &s) < 0 ||
	    due < 0)
		return NULL;
	return json_pack("{s:I, s:s, s:s, s:I, s:s, s:I, s:i, s:i, s:s, s:o, s:o, s:f, s:s, s:b}", "id",
			 (json_int_t)c->id, "tool", c->tool, "stable", c->stable_label, "stable_version",
			 (json_int_t)c->stable, "canary", c->canary_label, "canary_version", (json_int_t)c->canary, "step",
			 c->step + 1, "weight", c->weight, "state", c->state, "stable_arm", arm_json(&s), "canary_arm",
			 arm_json(&k), "seconds_at_step", (double)(end - since) / 1e9, "verdict", verdict, "step_due",
			 due > 0);
}

static void print_rollout(json_t *o)
{
	json_t *s = json_object_get(o, "stable_arm"), *k = json_object_get(o, "canary_arm");

	dise_cli_print(stdout, "%s  stable %s  canary %s  %s  step %lld at %lld%%  %.0f s at step\n",
		       dise_cli_str(o, "tool"), dise_cli_str(o, "stable"), dise_cli_str(o, "canary"),
		       dise_cli_str(o, "state"), (long long)dise_cli_num(o, "step"), (long long)dise_cli_num(o, "weight"),
		       json_real_value(json_object_get(o, "seconds_at_step")));
	dise_cli_print(stdout, "  stable arm: %lld runs, %lld failed; canary arm: %lld runs, %lld failed\n",
		       (long long)dise_cli_num(s, "runs"), (long long)dise_cli_num(s, "failures"),
		       (long long)dise_cli_num(k, "runs"), (long long)dise_cli_num(k, "failures"));
	dise_cli_print(stdout, "  verdict: %s\n", dise_cli_str(o, "verdict"));
}

int dise_cli_canaries_json(dise_store *st, const char *home, int all, json_t **ret)
{
	struct dise_config cfg;
	struct dise_canary *c = NULL;
	int64_t now = (int64_t)dise_rec_clock_ns(CLOCK_REALTIME);
	size_t n = 0, i;
	json_t *arr;
	int r;

	if ((r = dise_cli_load_config(home, &cfg)) != 0)
		return r;
	arr = json_array();
	r = dise_store_canaries(st, !all, &c, &n);
	for (i = 0; r >= 0 && i < n; i++) {
		json_t *o = rollout_json(st, &cfg, &c[i], now);

		if (!o)
			r = -EIO;
		json_array_append_new(arr, o);
	}
	dise_canaries_free(c, n);
	dise_config_free(&cfg);
	if (r < 0) {
		json_decref(arr);
		return dise_cli_error(r, "reading the canary rollouts");
	}
	*ret = arr;
	return 0;
}

static int list(int all, int json)
{
	char home[4096];
	size_t i;
	dise_store *st;
	json_t *arr;
	int r = dise_cli_open_store(1, &st, home, sizeof(home));

	if (r)
		return r;
	r = dise_cli_canaries_json(st, home, all, &arr);
	dise_store_free(st);
	if (r)
		return r;
	if (json)
		dise_cli_json_print(arr);
	for (i = 0; !json && i < json_array_size(arr); i++)
		print_rollout(json_array_get(arr, i));
	if (!json && !json_array_size(arr))
		dise_cli_print(stdout, "no canary rollout%s\n", all ? "" : " running (--all: the ended ones too)");
	json_decref(arr);
	return 0;
}

static int act(const char *what, const char *name)
{
	struct dise_config cfg;
	char home[4096], tool[4096], who[128];
	struct timespec pause = { 0, 50000000 };
	dise_store *st;
	int i, r = dise_cli_open_store(0, &st, home, sizeof(home));

	if (r)
		return r;
	if ((r = dise_cli_tool_name(st, name, tool, sizeof(tool))) != 0 || (r = dise_cli_load_config(home, &cfg)) != 0) {
		dise_store_free(st);
		return r;
	}
	dise_cli_who(who, sizeof(who));
	/* a collector storing a burst of runs holds the write lock a while: wait for it (up to 10 s) */
	for (i = 0; i < 200; i++) {
		if (!strcmp(what, "promote"))
			r = dise_canary_promote(st, &cfg, tool, who, (int64_t)dise_rec_clock_ns(CLOCK_REALTIME));
		else
			r = dise_canary_abort(st, tool, who, (int64_t)dise_rec_clock_ns(CLOCK_REALTIME));
		if (r != -EBUSY)
			break;
		nanosleep(&pause, NULL);
	}
	dise_store_free(st);
	dise_config_free(&cfg);
	if (r < 0)
		return dise_cli_error(r, "%s the canary of %s", what, tool);
	if (r == 0) {
		dise_cli_print(stderr, "dise: no canary rollout of %s runs (dise canary --all)\n", tool);
		return 1;
	}
	dise_cli_print(stdout, "%s: canary %s; the collector publishes the new weight within a second (dise canary)\n",
		       tool, !strcmp(what, "promote") ? "promoted one step" : "aborted: every run runs the stable version");
	return 0;
}

int dise_cli_canary(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_ALL = DISE_CLI_OPT_FIRST };
	static const struct option opts[] = { DISE_CLI_JSON, { "all", no_argument, NULL, OPT_ALL }, DISE_CLI_OPT_END };
	int json = 0, all = 0, c;
	char **ops;

	while ((c = dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd)) != -1) {
		if (c == DISE_CLI_OPT_JSON)
			json = 1;
		else if (c == OPT_ALL)
			all = 1;
	}
	ops = dise_cli_operands(argc, argv, 0, 2, cmd);
	if (!ops[0])
		return list(all, json);
	if ((strcmp(ops[0], "promote") && strcmp(ops[0], "abort")) || !ops[1]) {
		dise_cli_print(stderr, "dise canary: expected 'promote TOOL' or 'abort TOOL'\n%s", cmd->usage);
		return 2;
	}
	return act(ops[0], ops[1]);
}
