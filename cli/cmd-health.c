/* SPDX-License-Identifier: MIT */
/*
 * `dise health [--json]`: what an operator wants at 3 a.m.: how many
 * versions are healthy, degraded, pruned; the latest failures and whether
 * they were healed, and what went wrong when they were not (a candidate
 * rejected by validation and why, no ancestor, a failed restore); what runs
 * instead; how often healing found an ancestor, and how long from the
 * record that made the detection to the route.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "beside.h"
#include "cli.h"
#include "dise/ring.h"
#include "status.h"
#include "store.h"

/*
 * Before any heal: whether a route of path would run the store's copy
 * (beside.c's policy, or a directory the collector cannot write), with why.
 */
static int path_would_route_from_store(const char *path, const char *home, char *why, size_t size)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	struct stat hs;

	if (!slash || path[0] != '/' || (size_t)(slash - path) >= sizeof(dir) || stat(home, &hs) != 0)
		return 0;
	/* the collector runs as the store's owner */
	if (dise_beside_allowed(path, hs.st_uid, why, size) < 0)
		return 1;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path) > 0 ? (int)(slash - path) : 1, path);
	if (access(dir, W_OK) != 0) {
		snprintf(why, size, "directory not writable");
		return 1;
	}
	return 0;
}

/*
 * Before any heal: whether a routed run of the script at path would see
 * the copy's name as $0 (its interpreter is not one handed the copy under
 * the script's name: dise_route_script_reader), with why.
 */
static int script_runs_by_copy_name(const char *path, char *why, size_t size)
{
	char line[256], *nl, *interp, *end, *base;
	FILE *fp = fopen(path, "re");
	size_t n;

	if (!fp)
		return 0;
	n = fread(line, 1, sizeof(line) - 1, fp);
	fclose(fp);
	line[n] = '\0';
	if (n < 3 || line[0] != '#' || line[1] != '!' || !(nl = strchr(line, '\n')))
		return 0;
	*nl = '\0';
	for (interp = line + 2; *interp == ' ' || *interp == '\t'; interp++)
		;
	for (end = interp; *end && *end != ' ' && *end != '\t'; end++)
		;
	*end = '\0';
	base = strrchr(interp, '/');
	base = base ? base + 1 : interp;
	if (dise_route_script_reader(base))
		return 0;
	snprintf(why, size, "its interpreter %s does not read the script itself: a routed run's $0 would be the copy's "
		 "name (.dise-...) in the same directory", interp);
	return 1;
}

/* The reason of row j ("" when none). */
static const char *why_of(json_t *rows, size_t j)
{
	const char *w = dise_cli_str(json_array_get(rows, j), "why");

	return w ? w : "";
}

/*
 * Before any heal, what a route would do differently at some paths: one
 * line per reason, not per path (under /etc/ld.so.preload every program
 * in /usr/bin has the same one), with the first paths; --json lists all.
 */
static void say_by_reason(json_t *rows, const char *what)
{
	size_t i, j, count, n = json_array_size(rows);
	char *done = calloc(n ? n : 1, 1);

	for (i = 0; done && i < n; i++) {
		if (done[i])
			continue;
		for (j = i, count = 0; j < n; j++)
			count += !done[j] && !strcmp(why_of(rows, i), why_of(rows, j));
		dise_cli_print(stdout, "if healed, %s (%s): %zu path%s:", what, why_of(rows, i), count, count == 1 ? "" : "s");
		for (j = i, count = 0; j < n; j++) {
			if (done[j] || strcmp(why_of(rows, i), why_of(rows, j)))
				continue;
			done[j] = 1;
			if (++count <= 3)
				dise_cli_print(stdout, " %s", dise_cli_str(json_array_get(rows, j), "path"));
		}
		if (count > 3)
			dise_cli_print(stdout, " and %zu more (dise health --json lists them)", count - 3);
		dise_cli_print(stdout, "\n");
	}
	free(done);
}

int dise_cli_health(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	char home[4096];
	int json = dise_cli_parse_json(argc, argv, cmd), r;
	dise_store *st;
	struct dise_health_counts n = { 0 };
	json_t *o = json_object(), *by = json_object(), *recent = NULL, *rows = NULL, *placements = NULL, *paths = NULL, *restores = NULL, *problems = NULL, *regen = NULL;
	json_t *not_published = json_array(), *from_store = json_array(), *beside_impossible = json_array();
	json_t *name_differs = json_array();
	int64_t routed, lost, frozen, mean_ns;
	size_t hi;

	{
		char ring_path[DISE_PATH_MAX];

		if (dise_cli_ring_path(ring_path, sizeof(ring_path), 1) < 0) /* a fallback said in one line */
			dise_cli_print(stderr, "dise: no usable ring: nothing can be recorded\n");
	}
	r = dise_cli_open_store(1, &st, home, sizeof(home));
	if (r) {
		json_decref(o), json_decref(by);
		json_decref(not_published), json_decref(from_store), json_decref(beside_impossible);
		json_decref(name_differs);
		return r;
	}
	r = dise_store_report(st, DISE_REPORT_HEALTH_BY, NULL, 0, &rows);
	if (r == 0)
		r = dise_store_report(st, DISE_REPORT_RECENT_FAILURES, NULL, 0, &recent);
	if (r == 0)
		r = dise_store_report(st, DISE_REPORT_HEAL_PROBLEMS, NULL, 0, &problems);
	if (r == 0)
		r = dise_store_health_counts(st, &n);
	if (r == 0)
		r = dise_store_report(st, DISE_REPORT_ROUTE_PLACEMENTS, NULL, 0, &placements);
	if (r == 0)
		r = dise_store_report(st, DISE_REPORT_TOOL_PATHS, NULL, 0, &paths);
	if (r == 0)
		r = dise_store_report(st, DISE_REPORT_RESTORE_FAILURES, NULL, 0, &restores);
	if (r == 0)
		r = dise_store_report(st, DISE_REPORT_REGEN_STATE, NULL, 0, &regen);
	dise_store_free(st);
	if (r < 0) {
		json_decref(o), json_decref(by), json_decref(recent), json_decref(rows);
		json_decref(placements), json_decref(paths), json_decref(restores), json_decref(problems), json_decref(regen);
		json_decref(not_published), json_decref(from_store), json_decref(beside_impossible);
		json_decref(name_differs);
		return dise_cli_error(r, "reading the store");
	}
	/*
	 * Routes: one that could not be published is not in effect, whatever
	 * the heal says; one that runs from the store does not find what the
	 * original finds beside itself. And before any heal: the paths whose
	 * directory cannot take a copy beside the original.
	 */
	for (hi = 0; hi < json_array_size(placements); hi++) {
		json_t *p = json_array_get(placements, hi);

		if (!json_object_get(p, "target"))
			json_array_append(not_published, p);
		else if (!json_integer_value(json_object_get(p, "beside")))
			json_array_append(from_store, p);
	}
	json_decref(placements);
	for (hi = 0; hi < json_array_size(paths); hi++) {
		json_t *p = json_array_get(paths, hi);
		const char *path = json_string_value(json_object_get(p, "path"));
		char why[4200];

		if (path && path_would_route_from_store(path, home, why, sizeof(why))) {
			json_t *c = json_copy(p);

			json_object_set_new(c, "why", json_string(why));
			json_array_append_new(beside_impossible, c);
		}
		if (path && script_runs_by_copy_name(path, why, sizeof(why))) {
			json_t *c = json_copy(p);

			json_object_set_new(c, "why", json_string(why));
			json_array_append_new(name_differs, c);
		}
	}
	json_decref(paths);
	for (hi = 0; hi < json_array_size(rows); hi++) {
		json_t *row = json_array_get(rows, hi);

		json_object_set(by, json_string_value(json_object_get(row, "health")), json_object_get(row, "count"));
	}
	json_decref(rows);
	routed = n.routed;
	lost = n.no_ancestor;
	frozen = n.frozen;
	mean_ns = n.mean_detection_to_route_ns;
	json_object_set_new(o, "versions", by);
	json_object_set_new(o, "runs", json_integer(n.runs));
	json_object_set_new(o, "queued_heal_requests", json_integer(n.queued));
	json_object_set_new(o, "healings", json_integer(routed + lost));
	json_object_set_new(o, "routed", json_integer(routed));
	json_object_set_new(o, "no_ancestor", json_integer(lost));
	json_object_set_new(o, "frozen", json_integer(frozen));
	json_object_set_new(o, "success_rate", routed + lost ? json_real((double)routed / (double)(routed + lost)) : json_null());
	json_object_set_new(o, "mean_detection_to_route_ns", json_integer(mean_ns));
	json_object_set_new(o, "restore_failed", json_integer(n.restore_failed));
	json_object_set_new(o, "recent_failures", recent);
	json_object_set_new(o, "routes_not_published", not_published);
	json_object_set_new(o, "routes_from_store", from_store);
	json_object_set_new(o, "route_beside_impossible", beside_impossible);
	json_object_set_new(o, "route_name_differs", name_differs);
	json_object_set_new(o, "restore_failures", restores);
	json_object_set_new(o, "went_wrong", problems);
	json_object_set(o, "regeneration", regen);
	{
		char msg[1100];
		int64_t at;

		json_object_set_new(o, "collector_error",
				    dise_status_get(home, msg, sizeof(msg), &at) > 0 ? json_pack("{s:s,s:I}", "message", msg,
											     "wall_ns", (json_int_t)at)
										    : json_null());
	}
	if (json) {
		dise_cli_json_print(o);
	} else {
		const char *k;
		json_t *v;
		size_t i;

		dise_cli_collector_error(home, stdout); /* first: nothing below is current while it stands */
		dise_cli_print(stdout, "versions:");
		json_object_foreach(by, k, v)
			dise_cli_print(stdout, " %lld %s", (long long)json_integer_value(v), k);
		dise_cli_print(stdout, "\nruns: %lld   heal requests queued: %lld\n", (long long)json_integer_value(json_object_get(o, "runs")),
		       (long long)json_integer_value(json_object_get(o, "queued_heal_requests")));
		dise_cli_print(stdout, "healings: %lld (%lld routed to a healthy ancestor, %lld with none)", (long long)(routed + lost),
		       (long long)routed, (long long)lost);
		if (routed)
			dise_cli_print(stdout, ", detection (its run's record) to route %.2f ms on average", mean_ns / 1e6);
		if (frozen)
			dise_cli_print(stdout, "\nfrozen by policy (failed, nothing routed): %lld", (long long)frozen);
		if (n.restore_failed)
			dise_cli_print(stdout, "\nrestores in place that failed (the route applies; see went wrong): %lld",
			       (long long)n.restore_failed);
		dise_cli_print(stdout, "\nrecent failures:\n");
		for (i = 0; i < json_array_size(recent); i++) {
			json_t *e = json_array_get(recent, i);
			time_t t = (time_t)(json_integer_value(json_object_get(e, "wall_ns")) / 1000000000);
			struct tm tm;
			char when[32];

			localtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
			dise_cli_print(stdout, "  %s  %s v%lld  %s  [%s", when, json_string_value(json_object_get(e, "tool")),
			       (long long)json_integer_value(json_object_get(e, "version")),
			       json_string_value(json_object_get(e, "description")),
			       json_string_value(json_object_get(e, "healing")));
			if (json_object_get(e, "route_not_published"))
				dise_cli_print(stdout, ", NOT in effect: the route could not be published (%s)",
				       json_string_value(json_object_get(e, "route_not_published")));
			else if (json_object_get(e, "runs_instead"))
				dise_cli_print(stdout, ", runs v%lld instead", (long long)json_integer_value(json_object_get(e, "runs_instead")));
			if (json_object_get(e, "routed_from_store"))
				dise_cli_print(stdout, ", from the store: %s", json_string_value(json_object_get(e, "routed_from_store")));
			dise_cli_print(stdout, "]\n");
			if (json_object_get(e, "went_wrong"))
				dise_cli_print(stdout, "      went wrong: %s\n", json_string_value(json_object_get(e, "went_wrong")));
		}
		if (json_array_size(problems))
			dise_cli_print(stdout, "went wrong (latest first; all of it: dise journal):\n");
		for (i = 0; i < json_array_size(problems); i++) {
			json_t *e = json_array_get(problems, i);
			time_t t = (time_t)(json_integer_value(json_object_get(e, "wall_ns")) / 1000000000);
			const char *detail = json_string_value(json_object_get(e, "detail"));
			struct tm tm;
			char when[32];

			localtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
			dise_cli_print(stdout, "  %s  %s v%lld  %s %s%s%s\n", when, json_string_value(json_object_get(e, "tool")),
			       (long long)json_integer_value(json_object_get(e, "version")),
			       json_string_value(json_object_get(e, "step")), json_string_value(json_object_get(e, "result")),
			       detail ? ": " : "", detail ? detail : "");
		}
		for (i = 0; i < json_array_size(not_published); i++) {
			json_t *p = json_array_get(not_published, i);

			dise_cli_print(stdout, "route NOT published: %s %s -> v%lld: %s (%s)\n", json_string_value(json_object_get(p, "tool")),
			       json_string_value(json_object_get(p, "path")),
			       (long long)json_integer_value(json_object_get(p, "version")),
			       json_string_value(json_object_get(p, "note")),
			       strerror((int)json_integer_value(json_object_get(p, "error"))));
		}
		for (i = 0; i < json_array_size(from_store); i++) {
			json_t *p = json_array_get(from_store, i);
			const char *note = json_string_value(json_object_get(p, "note"));

			dise_cli_print(stdout, "routed from the store (its directory takes no copy): %s %s runs %s: a binary finds nothing "
			       "relative to /proc/self/exe (a script keeps its name: sh, bash, python3, perl)%s%s\n",
			       json_string_value(json_object_get(p, "tool")), json_string_value(json_object_get(p, "path")),
			       json_string_value(json_object_get(p, "target")), note ? "; " : "", note ? note : "");
		}
		for (i = 0; i < json_array_size(restores); i++) {
			json_t *p = json_array_get(restores, i);

			dise_cli_print(stdout, "restore FAILED (the file at the path was not restored; the route stands): %s v%lld: %s\n",
			       json_string_value(json_object_get(p, "tool")),
			       (long long)json_integer_value(json_object_get(p, "version")),
			       json_string_value(json_object_get(p, "detail")));
		}
		dise_cli_regen_say(regen);
		say_by_reason(beside_impossible, "would run from the store");
		say_by_reason(name_differs, "$0 would not be the path run");
	}
	json_decref(o);
	json_decref(regen);
	return 0;
}
