/* SPDX-License-Identifier: MIT */
/*
 * A regenerated version rolls out through the canary (issues 14 and 15):
 * a #! script whose v2 adds features and crashes is pruned by hand and
 * routed back to v1; regeneration (revert-hunks, mode auto) makes v3, and
 * with the tool's "canary" policy v3 is not routed at once but is the
 * canary over the route: v1 the stable, the runs of the pruned v2's file
 * split between them. A healthy v3 is promoted 5 -> 50 -> 100 by the
 * analysis and becomes the tool's route; a v3 that crashes on the canary
 * arm (a second crash of v2 that the rule's replay did not cover) is
 * aborted, pruned, and no run runs it after the abort is in effect.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dise/ring.h"
#include "harness.h"
#include "route-util.h"
#include "sandbox.h"

/* v2: a crash in greet (the rule), a new version string, shout (which crashes on "boom": no rule covers it) */
static const char v2_text[] = "#!/bin/sh\n"
			      "# a tool\n"
			      "case \"$1\" in\n"
			      "shout)\n"
			      "\techo \"HELLO $2\"\n"
			      "\ttest \"$2\" = boom && kill -SEGV $$\n"
			      "\t;;\n"
			      "greet)\n"
			      "\techo \"hello $2\"\n"
			      "\tkill -SEGV $$\n"
			      "\t;;\n"
			      "version)\n"
			      "\techo 2\n"
			      "\t;;\n"
			      "esac\n"
			      "exit 0\n";

/* dise.json: tool "rg" regenerated in mode auto, with a canary policy; v1, v2 over it, healed by hand: *path */
static void story(struct fixture *f, const char *mode, const char *canary, char **path)
{
	char *conf, *json, *argv[] = { NULL, "greet", "bob", NULL };

	mkdir(f->home, 0700);
	assert_true(asprintf(&conf, "%s/dise.json", f->home) > 0);
	assert_true(asprintf(&json,
			     "{\"tools\": {\"rg\": {\"test_command\": \"$DISE_CANDIDATE version > /dev/null\", "
			     "\"test_timeout_seconds\": 20, \"regenerate\": {\"mode\": \"%s\"}, \"canary\": %s}}}",
			     mode, canary) > 0);
	write_file(conf, 0644, json);
	free(json);
	free(conf);
	assert_true(asprintf(path, "%s/rg", f->dir) > 0);
	write_file(*path, 0755, regen_v1_text);
	argv[0] = *path;
	deploy_and_heal(f, "rg", *path, v2_text, 0755, argv);
}

/* path run with a1 a2 under the shim: its stdout (to free), its wait status into *status */
static char *run2(struct fixture *f, const char *path, const char *a1, const char *a2, int *status)
{
	char *argv[] = { (char *)path, (char *)a1, (char *)a2, NULL };

	return watched_out(f, argv, status);
}

/* The weight of the route of the file at path (-1: none), and the file its canary arm runs (*canary, 0s: none). */
static int weight_of(struct fixture *f, const char *path, struct dise_file_id *canary)
{
	struct dise_file_id id, to;
	char *rp = routes_file(f), out[4096];
	int64_t ctime_ns;
	uint32_t pct = 0;
	int r;

	file_id_of(path, &id);
	r = dise_routes_lookup(rp, (uint32_t)geteuid(), &id, out, sizeof(out), &to, NULL, NULL, &pct);
	memset(canary, 0, sizeof(*canary));
	if (r == 1 && dise_routes_canary(rp, (uint32_t)geteuid(), &id, out, sizeof(out), canary, &ctime_ns) != 1)
		memset(canary, 0, sizeof(*canary));
	free(rp);
	return r == 1 ? (int)pct : -1;
}

static void assert_rollout_started(struct fixture *f, const char *path, struct dise_file_id *canary)
{
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'rg' AND label = 'v2' AND health = 'pruned'"),
			 1);
	if (db_count(f, "SELECT count(*) FROM canaries k JOIN versions s ON s.id = k.stable_id "
			"JOIN versions c ON c.id = k.canary_id JOIN mutations m ON m.version_id = c.id "
			"WHERE k.state = 'running' AND k.weight = 5 AND s.label = 'v1' AND c.label = 'v3'") != 1) {
		char *j[] = { (char *)bin_path("dise"), "journal", NULL };
		struct run_result r;

		dise_cmd(f, j, &r);
		print_error("no rollout of v3:\n%s\n", r.out);
		run_result_free(&r);
		fail();
	}
	/* the route still runs v1: v3 earns it */
	assert_int_equal(db_count(f, "SELECT count(*) FROM routes rt JOIN versions v ON v.id = rt.version_id "
				     "WHERE rt.tool = 'rg' AND v.label = 'v1'"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE step = 'canary_start' AND result = 'ok'"), 1);
	collector_start(f, "--foreground", NULL, NULL);
	assert_true(wait_for(weight_of(f, path, canary) == 5 && canary->ino != 0, WAIT_MS));
}

/* A healthy regenerated v3: 5 -> 50 -> 100 by the analysis, then the tool's route, every run on it. */
static void test_regenerated_promoted(void **state)
{
	struct fixture *f = *state;
	struct dise_file_id canary;
	char *path, *out;
	int i, st, seen[2] = { 0, 0 };

	need_sandbox();
	story(f, "auto", "{\"steps\": [5, 50, 100], \"min_runs\": 5, \"min_seconds\": 0, \"max_slowdown\": 1000}", &path);
	assert_rollout_started(f, path, &canary);
	/* `version`: 1 on the stable arm, 2 on the regenerated one (it keeps v2's version string) */
	for (i = 0; i < 5000 && !db_try_count(f, "SELECT count(*) FROM canaries WHERE state = 'promoted'"); i++) {
		out = run2(f, path, "version", NULL, &st);
		if (strcmp(out, "1\n") && strcmp(out, "2\n"))
			fail_msg("run %d printed '%s'", i, out);
		seen[!strcmp(out, "2\n")]++;
		free(out);
	}
	assert_true(seen[0] > 0 && seen[1] > 0);
	assert_int_equal(db_count(f, "SELECT count(*) FROM canaries WHERE state = 'promoted' AND weight = 100"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE step = 'canary_step'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM routes rt JOIN versions v ON v.id = rt.version_id "
				     "WHERE rt.tool = 'rg' AND v.label = 'v3'"),
			 1);
	assert_true(wait_for(weight_of(f, path, &canary) == 0, WAIT_MS));
	{
		char *argv[] = { path, "version", NULL };

		assert_prints(f, argv, 10, "2\n");
	}
	collector_stop(f);
	free(path);
}

/* A regenerated v3 that crashes on the canary arm: aborted, pruned, and not run again. */
static void test_regenerated_aborted(void **state)
{
	struct fixture *f = *state;
	struct dise_file_id canary, now;
	char *path, *out;
	int64_t v3_runs;
	int i, st = 0;

	need_sandbox();
	story(f, "auto", "{\"min_runs\": 100000000}", &path);
	assert_rollout_started(f, path, &canary);
	for (i = 0; i < 5000; i++) { /* until a run takes the canary arm: v3 crashes on shout boom, v1 has no shout */
		out = run2(f, path, "shout", "boom", &st);
		free(out);
		if (WIFSIGNALED(st))
			break;
	}
	assert_true(WIFSIGNALED(st));
	if (!wait_for(db_try_count(f, "SELECT count(*) FROM canaries k JOIN versions c ON c.id = k.canary_id "
				      "WHERE c.label = 'v3' AND k.state = 'aborted' AND k.weight = 0 "
				      /* its crash, or the rule of v2's crash (the same stack in sh) pruning it first */
				      "AND (k.verdict LIKE '%crashed with signature%' OR k.verdict LIKE '%or a rule%')") == 1,
		      WAIT_MS)) {
		char *j[] = { (char *)bin_path("dise"), "journal", NULL };
		struct run_result r;

		dise_cmd(f, j, &r);
		print_error("not aborted on the crash:\n%s\n", r.out);
		run_result_free(&r);
		fail();
	}
	assert_true(wait_for(db_try_count(f, "SELECT count(*) FROM versions WHERE label = 'v3' AND health = 'pruned'") == 1,
			     WAIT_MS));
	/* the abort in effect: the route's canary arm no longer runs v3's copy */
	assert_true(wait_for(weight_of(f, path, &now) >= 0 && now.ino != canary.ino, WAIT_MS));
	v3_runs = db_count(f, "SELECT count(*) FROM runs r JOIN versions v ON v.id = r.version_id WHERE v.label = 'v3' "
			      "AND r.outcome != 'exec'");
	for (i = 0; i < 100; i++) {
		out = run2(f, path, "shout", "boom", &st);
		free(out);
		assert_false(WIFSIGNALED(st)); /* v1 (or a regenerated v4 whose replay covers shout boom now) */
	}
	assert_true(wait_for(db_try_count(f, "SELECT count(*) FROM runs WHERE outcome IS NULL") == 0, WAIT_MS));
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs r JOIN versions v ON v.id = r.version_id "
				     "WHERE v.label = 'v3' AND r.outcome != 'exec'"),
			 v3_runs);
	collector_stop(f);
	free(path);
}

/* mode suggest: `dise approve` rolls the regenerated version out through the canary too */
static void test_approved_rolls_out(void **state)
{
	struct fixture *f = *state;
	struct dise_file_id canary;
	char *path, *ap[] = { (char *)bin_path("dise"), "approve", "1", NULL };
	struct run_result r;

	need_sandbox();
	story(f, "suggest", "{\"min_runs\": 100000000}", &path);
	assert_int_equal(db_count(f, "SELECT count(*) FROM canaries"), 0);
	dise_cmd(f, ap, &r);
	if (r.status)
		print_error("approve: %s%s\n", r.out, r.err);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	assert_rollout_started(f, path, &canary);
	collector_stop(f);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_regenerated_promoted, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_regenerated_aborted, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_approved_rolls_out, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
