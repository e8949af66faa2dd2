/* SPDX-License-Identifier: MIT */
/*
 * Canary rollouts (issue 15), what test-canary.c leaves out.
 *
 * The arm of a canary rollout goes nowhere the program can see:
 * a tool of a rollout at 50% (a copy of env(1), the canary one byte longer)
 * prints exactly the environment it was given, and the /proc/self/environ
 * of what it executes is exactly that too, on both arms. The arm goes
 * through the ring's arm table instead: an entry left for a pid is the arm
 * that pid's next image takes; forged and corrupt entries pick at most one
 * of the two arms the route allows, never another file.
 *
 * A rollout whose canary leaves the path ends: a rollback by hand to the
 * stable (abandoned), a third content (superseded; a new content starts
 * its own rollout, a version the tool had before none), weight 0 and
 * journaled with why.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dise/ring.h"
#include "harness.h"
#include "route-util.h"

/* dise.json: path's canary at 50% on deploy, never promoted by the analysis; then the collector */
static void start_rollout_policy(struct fixture *f, const char *path)
{
	char *conf, *text;

	sh("mkdir -p '%s'", f->home);
	assert_true(asprintf(&conf, "%s/dise.json", f->home) > 0);
	assert_true(asprintf(&text,
			     "{\"tools\": {\"%s\": {\"canary\": {\"on_deploy\": true, \"steps\": [50, 100], "
			     "\"min_runs\": 100000000}}}}\n",
			     path) > 0);
	write_file(conf, 0644, text);
	free(text);
	free(conf);
	collector_start(f, "--foreground", NULL, NULL);
}

/* stable at path, run once and stored; then canary + tail over it, run once: a rollout at 50% */
static void deploy_over(struct fixture *f, const char *path, const char *stable, const char *canary, const char *tail)
{
	char *argv[] = { (char *)path, NULL };

	sh("cp '%s' '%s.new' && mv '%s.new' '%s'", stable, path, path, path);
	free(watched_out(f, argv, NULL));
	assert_true(wait_for(db_try_count(f, "SELECT count(*) FROM versions WHERE cas_path IS NOT NULL") >= 1, WAIT_MS));
	sh("cp '%s' '%s.new' && printf '%s' >> '%s.new' && mv '%s.new' '%s'", canary, path, tail, path, path, path);
	free(watched_out(f, argv, NULL));
	assert_true(wait_for(route_pct_of(f, path) == 50, WAIT_MS));
}

/* The ended runs of each version of tool path: both arms ran at least once more than their deploy run */
static void assert_both_arms_ran(struct fixture *f, const char *path)
{
	char *q;

	assert_true(wait_for(db_try_count(f, "SELECT count(*) FROM runs WHERE outcome IS NULL") == 0, WAIT_MS));
	assert_true(asprintf(&q,
			     "SELECT count(*) FROM (SELECT count(*) n FROM runs r JOIN versions v ON v.id = r.version_id "
			     "WHERE v.tool = '%s' AND r.outcome = 'ok' GROUP BY v.id) WHERE n >= 2",
			     path) > 0);
	assert_int_equal(db_count(f, q), 2);
	free(q);
}

/*
 * `env` and `env cat /proc/self/environ` run as the tool of a rollout at
 * 50%: byte-identical to the environment the test gave them, run after
 * run, whichever arm (both are seen). Before the arm table, the shim put
 * DISE_ARM=<route>:c|s there.
 */
static void test_environment_untouched(void **state)
{
	struct fixture *f = *state;
	char *path, *pre, *want, *want0, *env_argv[2], *cat_argv[4], *plain[] = { "/usr/bin/env", NULL };
	struct run_result r;
	size_t i, n;

	assert_true(asprintf(&path, "%s/envtool", f->dir) > 0);
	start_rollout_policy(f, path);
	deploy_over(f, path, "/usr/bin/env", "/usr/bin/env", "\\n");
	assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
	/* without dise (no entry added), then what watched() adds, in its order */
	assert_int_equal(run_cmd(plain, NULL, NULL, &r), 0);
	assert_true(asprintf(&want, "%s%s\n%s\n%s\n", r.out ? r.out : "", pre, f->env_ring, f->env_home) > 0);
	run_result_free(&r);
	assert_true((want0 = strdup(want)) != NULL);
	n = strlen(want0);
	for (i = 0; i < n; i++)
		if (want0[i] == '\n')
			want0[i] = '\0';
	env_argv[0] = path, env_argv[1] = NULL;
	cat_argv[0] = path, cat_argv[1] = "cat", cat_argv[2] = "/proc/self/environ", cat_argv[3] = NULL;
	for (i = 0; i < 30; i++) {
		watched(f, env_argv, &r);
		if (!r.out || strcmp(r.out, want)) {
			print_error("run %zu: env printed\n%s\nnot\n%s\n", i, r.out ? r.out : "(nothing)", want);
			fail();
		}
		run_result_free(&r);
		watched(f, cat_argv, &r);
		assert_int_equal(r.out_len, n);
		assert_memory_equal(r.out, want0, n);
		run_result_free(&r);
	}
	assert_both_arms_ran(f, path);
	collector_stop(f);
	free(want);
	free(want0);
	free(pre);
	free(path);
}

/* The route key of the file now at path */
static uint64_t key_of(const char *path)
{
	struct dise_file_id id;

	file_id_of(path, &id);
	return dise_route_key(&id);
}

/*
 * path run under the shim by a child that first leaves (key, arm) in the
 * arm table under its own pid (forged: any process of the user can), or
 * garbage when key is 0; its stdout.
 */
static char *run_with_entry(struct fixture *f, const char *path, uint64_t key, int arm)
{
	char *pre, *env[4], *argv[] = { (char *)path, NULL }, buf[64] = "";
	int fd[2], status;
	ssize_t got, k;
	pid_t pid;

	assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
	env[0] = pre, env[1] = f->env_ring, env[2] = f->env_home, env[3] = NULL;
	assert_int_equal(pipe(fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dise_ring r;

		dup2(fd[1], 1);
		if (dise_ring_map(f->ring, DISE_RING_WRITE, 0, 0, &r) < 0)
			_exit(12);
		if (key) {
			dise_arm_put(&r, (uint32_t)getpid(), key, arm);
		} else { /* every entry corrupt: random words over the whole table */
			unsigned char *t = (unsigned char *)r.hdr + sizeof(struct dise_ring_header);

			for (k = 0; k < (ssize_t)(DISE_ARMS * sizeof(struct dise_arm_entry)); k++)
				t[k] = (unsigned char)random();
		}
		execve(path, argv, env);
		_exit(11);
	}
	close(fd[1]);
	for (got = 0; (k = read(fd[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0;)
		got += k;
	close(fd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	free(pre);
	return strdup(buf);
}

/*
 * The arm table is what carries the arm: an entry for the pid that is
 * about to run the tool decides its arm (both ways, so the table is
 * read); an entry of another route's key does not; corrupt entries and
 * forged ones only ever run one of the route's two versions.
 */
static void test_arm_table_untrusted(void **state)
{
	struct fixture *f = *state;
	char *path, *out;
	uint64_t key;
	int i, seen[2] = { 0, 0 };

	assert_true(asprintf(&path, "%s/tool", f->dir) > 0);
	start_rollout_policy(f, path);
	deploy_over(f, path, prog_path("canaryprog-stable"), prog_path("canaryprog-canary"), "");
	key = key_of(path);
	for (i = 0; i < 20; i++) {
		out = run_with_entry(f, path, key, 1);
		assert_string_equal(out, "canary\n");
		free(out);
		out = run_with_entry(f, path, key, 0);
		assert_string_equal(out, "stable\n");
		free(out);
	}
	/* another route's key: not this route's arm, drawn (both arms seen) */
	for (i = 0; i < 60; i++) {
		out = run_with_entry(f, path, key ^ 1, 1);
		if (strcmp(out, "canary\n") && strcmp(out, "stable\n"))
			fail_msg("a forged entry ran '%s'", out);
		seen[!strcmp(out, "canary\n")]++;
		free(out);
	}
	assert_true(seen[0] > 0 && seen[1] > 0);
	/* a table of garbage: every run one of the two versions */
	for (i = 0; i < 40; i++) {
		out = run_with_entry(f, path, 0, 0);
		if (strcmp(out, "canary\n") && strcmp(out, "stable\n"))
			fail_msg("with a corrupt arm table a run printed '%s'", out);
		free(out);
	}
	collector_stop(f);
	free(path);
}

/* the rollout ended with why: state superseded, weight 0, no rollout of tool running; its journal line */
static void assert_ended(struct fixture *f, const char *why)
{
	char *q;

	assert_true(asprintf(&q,
			     "SELECT count(*) FROM canaries WHERE state = 'superseded' AND weight = 0 AND verdict LIKE '%s%%'",
			     why) > 0);
	if (!wait_for(db_try_count(f, q) == 1, WAIT_MS)) {
		char *c[] = { (char *)bin_path("dise"), "canary", "--all", NULL };
		struct run_result r;

		dise_cmd(f, c, &r);
		print_error("no rollout ended '%s': %s\n", why, r.out);
		run_result_free(&r);
		fail();
	}
	free(q);
	assert_true(asprintf(&q, "SELECT count(*) FROM journal WHERE step = 'canary_abort' AND result = 'superseded' "
				 "AND detail LIKE '%s%%'",
			     why) > 0);
	assert_int_equal(db_count(f, q), 1);
	free(q);
}

/* content (a file) over path, as a deploy does, and run once (the run that reveals it) */
static void put(struct fixture *f, const char *path, const char *content)
{
	char *argv[] = { (char *)path, NULL };

	sh("cp '%s' '%s.new' && mv '%s.new' '%s'", content, path, path, path);
	free(watched_out(f, argv, NULL));
}

/* A rollback by hand (the stable's content back at the path): the rollout is abandoned, every run the stable. */
static void test_rollback_by_hand_ends_rollout(void **state)
{
	struct fixture *f = *state;
	char *path, *argv[2];

	assert_true(asprintf(&path, "%s/tool", f->dir) > 0);
	start_rollout_policy(f, path);
	deploy_over(f, path, prog_path("canaryprog-stable"), prog_path("canaryprog-canary"), "");
	put(f, path, prog_path("canaryprog-stable"));
	assert_ended(f, "abandoned");
	assert_int_equal(db_count(f, "SELECT count(*) FROM canaries WHERE state = 'running'"), 0);
	argv[0] = path, argv[1] = NULL;
	assert_prints(f, argv, 10, "stable\n");
	collector_stop(f);
	free(path);
}

/*
 * A third content: a new one supersedes the rollout and starts its own
 * against the same stable; then a version the tool had before (the first
 * canary again) supersedes that one and starts none.
 */
static void test_third_content_ends_rollout(void **state)
{
	struct fixture *f = *state;
	char *path;

	assert_true(asprintf(&path, "%s/tool", f->dir) > 0);
	start_rollout_policy(f, path);
	deploy_over(f, path, prog_path("canaryprog-stable"), prog_path("canaryprog-canary"), "");
	put(f, path, prog_path("canaryprog-crashy"));
	assert_ended(f, "superseded by a newer deploy");
	assert_true(wait_for(route_pct_of(f, path) == 50, WAIT_MS));
	assert_int_equal(db_count(f, "SELECT count(*) FROM canaries k JOIN versions s ON s.id = k.stable_id "
				     "WHERE k.state = 'running' AND s.id = (SELECT min(id) FROM versions)"),
			 1);
	put(f, path, prog_path("canaryprog-canary"));
	assert_ended(f, "superseded: ");
	assert_int_equal(db_count(f, "SELECT count(*) FROM canaries WHERE state = 'running'"), 0);
	collector_stop(f);
	free(path);
}

/*
 * Route table v4's canary target: written and read back with its own
 * identity; refused by the writer without a weight; an entry that has
 * one without a weight (corrupt) is no route for the reader.
 */
static void test_route_canary_target(void **state)
{
	struct fixture *f = *state;
	struct dise_route_in e = { 0 };
	struct dise_file_id to;
	char *rp = routes_file(f), *stable, *canary, out[4096];
	int64_t ctime_ns = 0;
	uint32_t pct = 0;

	assert_true(asprintf(&stable, "%s/.dise-stable", f->dir) > 0);
	assert_true(asprintf(&canary, "%s/.dise-canary", f->dir) > 0);
	sh("cp '%s' '%s' && cp '%s' '%s' && chmod 0555 '%s' '%s'", prog_path("canaryprog-stable"), stable,
	   prog_path("canaryprog-canary"), canary, stable, canary);
	file_id_of(prog_path("canaryprog-crashy"), &e.from);
	target_of(stable, &e);
	e.target = stable;
	e.canary_target = canary;
	file_id_of(canary, &e.canary_to);
	e.canary_ctime_ns = 42;
	assert_int_equal(dise_routes_write(rp, &e, 1), -EINVAL); /* a canary target needs a weight */
	e.canary_pct = 5;
	assert_int_equal(dise_routes_write(rp, &e, 1), 0);
	assert_int_equal(dise_routes_lookup(rp, (uint32_t)geteuid(), &e.from, out, sizeof(out), &to, NULL, NULL, &pct), 1);
	assert_string_equal(out, stable);
	assert_int_equal(pct, 5);
	assert_int_equal(dise_routes_canary(rp, (uint32_t)geteuid(), &e.from, out, sizeof(out), &to, &ctime_ns), 1);
	assert_string_equal(out, canary);
	assert_int_equal(to.ino, e.canary_to.ino);
	assert_int_equal(ctime_ns, 42);
	/* the weight zeroed in the file: a canary target without a weight is corrupt, no route */
	{
		struct dise_routes_header h;
		struct dise_route_entry b;
		FILE *fp = fopen(rp, "r+b");
		uint32_t i;

		assert_non_null(fp);
		assert_int_equal(fread(&h, sizeof(h), 1, fp), 1);
		for (i = 0; i < h.nbuckets; i++) {
			assert_int_equal(fseek(fp, (long)(sizeof(h) + i * sizeof(b)), SEEK_SET), 0);
			assert_int_equal(fread(&b, sizeof(b), 1, fp), 1);
			if (!b.target_len)
				continue;
			b.canary_pct = 0;
			assert_int_equal(fseek(fp, (long)(sizeof(h) + i * sizeof(b)), SEEK_SET), 0);
			assert_int_equal(fwrite(&b, sizeof(b), 1, fp), 1);
		}
		fclose(fp);
	}
	assert_true(dise_routes_lookup(rp, (uint32_t)geteuid(), &e.from, out, sizeof(out), &to, NULL, NULL, &pct) != 1);
	free(stable);
	free(canary);
	free(rp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_route_canary_target, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_environment_untouched, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_arm_table_untrusted, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rollback_by_hand_ends_rollout, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_third_content_ends_rollout, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
