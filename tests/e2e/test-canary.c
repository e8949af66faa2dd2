/* SPDX-License-Identifier: MIT */
/*
 * Canary rollouts (issue 15): a tool deployed with "canary": {"on_deploy":
 * true} splits its runs between the stable and the canary at each step's
 * weight (within a binomial bound), keeps its arm across an exec chain, is
 * promoted through every step to the plain version, resumes after a
 * collector restart, and is aborted (pruned) on its first crash with a
 * signature the stable never had, after which no run runs it, even with 50
 * runs going on in parallel.
 *
 * The split is judged by an exact binomial bound: for n runs at weight p,
 * the count of canary runs X ~ Binomial(n, p) (the shim's choice is a
 * uniform hash of each run's pid and start time). The test accepts
 * [lo, hi], where lo is the largest k with P(X < k) < 5e-7 and hi the
 * smallest with P(X > hi) < 5e-7, computed from the exact probability mass
 * function (lgamma): a correct split fails it with probability < 1e-6.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dise/ring.h"
#include "harness.h"
#include "route-util.h"

/* dise.json with tool path's canary policy (and more top-level keys: "" or "K": V,), then the collector */
static pid_t start_with(struct fixture *f, const char *path, const char *policy, const char *more)
{
	char *conf, *text;

	sh("mkdir -p '%s'", f->home);
	assert_true(asprintf(&conf, "%s/dise.json", f->home) > 0);
	assert_true(asprintf(&text, "{%s\"tools\": {\"%s\": {\"canary\": %s}}}\n", more, path, policy) > 0);
	write_file(conf, 0644, text);
	free(text);
	free(conf);
	return collector_start(f, "--foreground", NULL, NULL);
}

static pid_t start_with_policy(struct fixture *f, const char *path, const char *policy)
{
	return start_with(f, path, policy, "");
}

/* A local webhook endpoint (python3) appending each POST's body to posts; its port into *port (free it). */
static void webhook_server(struct fixture *f, const char *posts, char **port)
{
	static const char server[] =
		"import http.server, sys\n"
		"class H(http.server.BaseHTTPRequestHandler):\n"
		"    def do_POST(self):\n"
		"        b = self.rfile.read(int(self.headers['Content-Length']))\n"
		"        open(sys.argv[1], 'ab').write(b + b'\\n')\n"
		"        self.send_response(204); self.end_headers()\n"
		"    def log_message(self, *a): pass\n"
		"s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
		"open(sys.argv[2] + '.tmp', 'w').write(str(s.server_address[1]))\n"
		"import os; os.rename(sys.argv[2] + '.tmp', sys.argv[2])\n"
		"s.serve_forever()\n";
	char *portf;
	pid_t srv;

	assert_true(asprintf(&portf, "%s/port", f->dir) > 0);
	srv = fork();
	assert_true(srv >= 0);
	if (srv == 0) {
		execl("/usr/bin/python3", "python3", "-c", server, posts, portf, (char *)NULL);
		_exit(127);
	}
	track_child(srv); /* killed in teardown */
	if (!wait_for((*port = slurp(portf)) != NULL, WAIT_MS))
		fail_msg("the webhook server never listened");
	free(portf);
}

/* path's file run once under the shim: its stdout into out (empty when it crashed) */
static void run_tool(struct fixture *f, const char *path, const char *arg, char *out, size_t size)
{
	char *argv[] = { (char *)path, (char *)arg, NULL };
	struct run_result r;

	watched(f, argv, &r);
	snprintf(out, size, "%s", r.out ? r.out : "");
	run_result_free(&r);
}

/* v1 (stable) at path, run once and given its version; then the canary deployed over it and run once */
static void deploy(struct fixture *f, const char *path, const char *canary)
{
	char out[64];

	sh("cp '%s' '%s.new' && mv '%s.new' '%s'", prog_path("canaryprog-stable"), path, path, path);
	run_tool(f, path, NULL, out, sizeof(out));
	assert_string_equal(out, "stable\n");
	assert_true(wait_for(db_try_count(f, "SELECT count(*) FROM versions WHERE cas_path IS NOT NULL") == 1, WAIT_MS));
	sh("cp '%s' '%s.new' && mv '%s.new' '%s'", prog_path(canary), path, path, path);
	run_tool(f, path, NULL, out, sizeof(out)); /* the run that reveals the deploy: the canary's own file */
}

/* [lo, hi]: the canary counts of n runs at percent pct a correct split stays within but with probability < 1e-6 */
static void binomial_bounds(int n, int pct, int *lo, int *hi)
{
	double p = pct / 100.0, tail = 0;
	int k;

	for (k = 0; k <= n; k++) {
		double pk = exp(lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) + k * log(p) + (n - k) * log1p(-p));

		if (tail + pk >= 5e-7)
			break;
		tail += pk;
	}
	*lo = k;
	tail = 0;
	for (k = n; k >= 0; k--) {
		double pk = exp(lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) + k * log(p) + (n - k) * log1p(-p));

		if (tail + pk >= 5e-7)
			break;
		tail += pk;
	}
	*hi = k;
}

/* n runs of path: how many ran the canary (every run ran one of the two) */
static int split(struct fixture *f, const char *path, const char *canary_out, int n)
{
	char out[64];
	int i, canary = 0;

	for (i = 0; i < n; i++) {
		run_tool(f, path, NULL, out, sizeof(out));
		if (!strcmp(out, canary_out))
			canary++;
		else if (strcmp(out, "stable\n")) {
			print_error("run %d printed '%s'\n", i, out);
			fail();
		}
	}
	return canary;
}

static void assert_split(struct fixture *f, const char *path, int pct)
{
	int lo, hi, n = 1000, k;

	binomial_bounds(n, pct, &lo, &hi);
	k = split(f, path, "canary\n", n);
	print_message("weight %d%%: %d of %d runs on the canary (accepted: %d..%d)\n", pct, k, n, lo, hi);
	assert_in_range(k, lo, hi);
}

static void canary_cli(struct fixture *f, const char *what, const char *path)
{
	char *argv[] = { (char *)bin_path("dise"), "canary", (char *)what, (char *)path, NULL };
	struct run_result r;

	dise_cmd(f, argv, &r);
	if (r.status)
		print_error("dise canary %s: %s\n", what, r.err);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
}

/* dise runs shows each run's arm, dise canary the rollout, dise lineage marks the arms */
static void check_cli(struct fixture *f, const char *path)
{
	char *runs[] = { (char *)bin_path("dise"), "runs", "--tool", (char *)path, "--limit", "300", "--json", NULL };
	char *canary[] = { (char *)bin_path("dise"), "canary", "--json", NULL };
	char *lineage[] = { (char *)bin_path("dise"), "lineage", (char *)path, "--json", NULL };
	int arms[2] = { 0, 0 };
	json_t *j, *o, *k;
	size_t i;

	assert_true(wait_for(db_try_count(f, "SELECT count(*) FROM runs WHERE outcome IS NULL") == 0, WAIT_MS));
	j = dise_json(f, runs);
	json_array_foreach(j, i, o)
	{
		const char *arm = json_string_value(json_object_get(o, "arm"));

		assert_non_null(arm);
		arms[!strcmp(arm, "canary")]++;
	}
	assert_true(arms[0] > 0 && arms[1] > 0);
	json_decref(j);

	j = dise_json(f, canary);
	assert_int_equal(json_array_size(j), 1);
	o = json_array_get(j, 0);
	assert_int_equal(json_integer_value(json_object_get(o, "weight")), 50);
	assert_int_equal(json_integer_value(json_object_get(o, "step")), 2);
	assert_string_equal(json_string_value(json_object_get(o, "state")), "running");
	k = json_object_get(o, "canary_arm");
	assert_true(json_integer_value(json_object_get(k, "runs")) > 0);
	assert_non_null(strstr(json_string_value(json_object_get(o, "verdict")), "waiting"));
	json_decref(j);

	j = dise_json(f, lineage);
	assert_int_equal(json_array_size(j), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "arm")), "stable");
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 1), "arm")), "canary at 50%");
	json_decref(j);
}

/*
 * 1000 runs split within the binomial bound at 5% and at 50%; a wrapper
 * and the child it executes never mix arms; a collector restarted in the
 * middle resumes the rollout (same step, same weight, the CLI promotes it
 * on); promoted to 100% the canary is the plain version.
 */
static void test_split_chain_restart(void **state)
{
	struct fixture *f = *state;
	char *path, out[64];
	int i;

	assert_true(asprintf(&path, "%s/tool", f->dir) > 0);
	/* no promotion by analysis here: the steps are the CLI's */
	start_with_policy(f, path, "{\"on_deploy\": true, \"steps\": [5, 50, 100], \"min_runs\": 100000000}");
	deploy(f, path, "canaryprog-canary");
	assert_true(wait_for(route_pct_of(f, path) == 5, WAIT_MS));
	assert_split(f, path, 5);

	canary_cli(f, "promote", path);
	assert_true(wait_for(route_pct_of(f, path) == 50, WAIT_MS));
	assert_split(f, path, 50);

	/* the exec chain: a wrapper and the run it executes take the same arm (both arms are seen) */
	{
		int seen_canary = 0, seen_stable = 0;

		for (i = 0; i < 100; i++) {
			run_tool(f, path, "chain", out, sizeof(out));
			if (!strcmp(out, "canary canary\n"))
				seen_canary++;
			else if (!strcmp(out, "stable stable\n"))
				seen_stable++;
			else {
				print_error("a chain mixed versions: '%s'\n", out);
				fail();
			}
		}
		assert_true(seen_canary > 0 && seen_stable > 0);
	}

	check_cli(f, path);

	/* a restart in the middle: the rollout resumes where it was */
	collector_stop(f);
	{
		char *rp = routes_file(f);

		unlink(rp); /* the restarted collector publishes it again from the store */
		free(rp);
	}
	collector_start(f, "--foreground", NULL, NULL);
	assert_true(wait_for(route_pct_of(f, path) == 50, WAIT_MS));
	assert_int_equal(db_count(f, "SELECT step FROM canaries WHERE state = 'running'"), 1);

	canary_cli(f, "promote", path);
	assert_true(wait_for(route_pct_of(f, path) == -1, WAIT_MS));
	assert_int_equal(db_count(f, "SELECT count(*) FROM canaries WHERE state = 'promoted' AND weight = 100"), 1);
	assert_int_equal(split(f, path, "canary\n", 20), 20);
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE step = 'canary_step'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE step = 'canary_promote'"), 1);
	collector_stop(f);
	free(path);
}

/* A healthy canary is promoted by the analysis through every step to the plain version. */
static void test_promoted_through_steps(void **state)
{
	struct fixture *f = *state;
	char *path, out[64];
	int i;

	assert_true(asprintf(&path, "%s/tool", f->dir) > 0);
	/* no slowdown bound: the medians of a 1 ms program on a loaded machine (or under ASan) are noise */
	start_with_policy(f, path,
			  "{\"on_deploy\": true, \"steps\": [5, 50, 100], \"min_runs\": 5, \"min_seconds\": 0, "
			  "\"max_slowdown\": 1000}");
	deploy(f, path, "canaryprog-canary");
	assert_true(wait_for(route_pct_of(f, path) == 5, WAIT_MS));
	/* runs until the analysis promoted it twice: a bounded number (5 canary runs at 5% then at 50%) */
	for (i = 0; i < 5000 && route_pct_of(f, path) != -1; i++)
		run_tool(f, path, NULL, out, sizeof(out));
	if (!wait_for(db_try_count(f, "SELECT count(*) FROM canaries WHERE state = 'promoted'") == 1, WAIT_MS)) {
		char *c[] = { (char *)bin_path("dise"), "canary", "--all", NULL };
		struct run_result r;

		dise_cmd(f, c, &r);
		print_error("after %d runs: %s\n", i, r.out);
		run_result_free(&r);
		fail();
	}
	assert_true(wait_for(route_pct_of(f, path) == -1, WAIT_MS));
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE step = 'canary_step'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE step = 'canary_promote'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE health = 'pruned'"), 0);
	assert_int_equal(split(f, path, "canary\n", 10), 10);
	collector_stop(f);
	free(path);
}

/*
 * A canary that crashes is aborted after its first crash whose signature
 * the stable never had: weight 0 (then pruned, with a rule), journaled
 * with the evidence; no run runs it after that.
 */
static void test_abort_on_first_unknown_crash(void **state)
{
	struct fixture *f = *state;
	char *path, out[64], *posts, *port, *hook, *got = NULL;
	int64_t canary_runs;

	assert_true(asprintf(&path, "%s/tool", f->dir) > 0);
	assert_true(asprintf(&posts, "%s/posts", f->dir) > 0);
	webhook_server(f, posts, &port);
	assert_true(asprintf(&hook, "\"notify\": {\"webhook\": \"http://127.0.0.1:%s/dise\", \"timeout_ms\": 3000}, ",
			     port) > 0);
	start_with(f, path, "{\"on_deploy\": true, \"min_runs\": 100000000}", hook);
	deploy(f, path, "canaryprog-crashy");
	assert_true(wait_for(route_pct_of(f, path) == 5, WAIT_MS));
	/* boom until a run takes the canary arm and crashes: the first crash of the canary */
	do
		run_tool(f, path, "boom", out, sizeof(out));
	while (!strcmp(out, "stable\n"));
	assert_string_equal(out, "");
	assert_true(wait_for(route_pct_of(f, path) == 0, WAIT_MS));
	assert_true(wait_for(db_try_count(f, "SELECT count(*) FROM versions WHERE health = 'pruned'") == 1, WAIT_MS));
	assert_int_equal(db_count(f, "SELECT count(*) FROM canaries WHERE state = 'aborted' AND weight = 0 "
				     "AND verdict LIKE '%crashed with signature%'"), 1);
	if (db_count(f, "SELECT count(*) FROM journal WHERE step = 'canary_abort' AND detail LIKE '%no run of the stable%'") != 1) {
		char *j[] = { (char *)bin_path("dise"), "journal", NULL };
		struct run_result r;

		dise_cmd(f, j, &r);
		print_error("%s\n", r.out);
		run_result_free(&r);
	}
	assert_int_equal(db_count(f, "SELECT count(*) FROM failures WHERE detector = 'canary'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE step = 'canary_abort' AND detail LIKE '%no run of the stable%'"), 1);

	canary_runs = db_count(f, "SELECT count(*) FROM runs r JOIN canaries k ON r.version_id = k.canary_id "
				  "WHERE r.outcome != 'exec'");
	/* no further run on it */
	assert_int_equal(split(f, path, "crashy\n", 100), 0);
	assert_true(wait_for(db_try_count(f, "SELECT count(*) FROM runs WHERE outcome IS NULL") == 0, WAIT_MS));
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs r JOIN canaries k ON r.version_id = k.canary_id "
				     "WHERE r.outcome != 'exec'"),
			 canary_runs);
	/* the webhook heard of the start and the abort (the notifier looks about once a second) */
	assert_true(wait_for((got = slurp(posts)) && strstr(got, "\"event\":\"canary_abort\"") ? 1 : (free(got), got = NULL, 0),
			     WAIT_MS));
	assert_non_null(strstr(got, "\"event\":\"canary_start\""));
	free(got);
	collector_stop(f);
	free(hook);
	free(port);
	free(posts);
	free(path);
}

static int64_t wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A runner: runs path (under the shim) until stop exists, at most max times (a backlog a slow collector can store). */
static void runner(struct fixture *f, const char *path, const char *stop, int max)
{
	char *pre, *argv[] = { (char *)path, NULL }, *env[4];

	if (asprintf(&pre, "LD_PRELOAD=%s", shim_path()) < 0)
		_exit(1);
	env[0] = pre, env[1] = f->env_ring, env[2] = f->env_home, env[3] = NULL;
	while (max-- > 0 && access(stop, F_OK) != 0) {
		int st, null = open("/dev/null", O_WRONLY);
		pid_t p = fork();

		if (p == 0) {
			dup2(null, 1);
			execve(path, argv, env);
			_exit(127);
		}
		close(null);
		if (p < 0 || waitpid(p, &st, 0) < 0)
			_exit(1);
	}
	_exit(0);
}

static void spawn_runners(struct fixture *f, const char *path, const char *stop, pid_t *kids, int max)
{
	int i;

	for (i = 0; i < 50; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0)
			runner(f, path, stop, max);
		track_child(kids[i]);
	}
}

static void reap_runners(const pid_t *kids)
{
	int i;

	for (i = 0; i < 50; i++) {
		int st;

		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

/*
 * 50 runs at once, all along a promotion (5% -> 50%) and the abort that
 * follows the canary's crash: once the abort is in effect, not one run
 * started after it runs the pruned canary.
 */
static void test_parallel_runs_never_run_pruned(void **state)
{
	struct fixture *f = *state;
	char *path, *stop, out[64], sql[256];
	pid_t kids[50];
	int64_t t_abort;

	assert_true(asprintf(&path, "%s/tool", f->dir) > 0);
	assert_true(asprintf(&stop, "%s/stop", f->dir) > 0);
	start_with_policy(f, path, "{\"on_deploy\": true, \"min_runs\": 100000000}");
	deploy(f, path, "canaryprog-crashy");
	assert_true(wait_for(route_pct_of(f, path) == 5, WAIT_MS));
	spawn_runners(f, path, stop, kids, 20);
	canary_cli(f, "promote", path);
	assert_true(wait_for(route_pct_of(f, path) == 50, WAIT_MS));
	do
		run_tool(f, path, "boom", out, sizeof(out));
	while (!strcmp(out, "stable\n"));
	/* a longer deadline: a sanitized collector stores the runners' backlog first */
	assert_true(wait_for(route_pct_of(f, path) == 0, 4 * WAIT_MS));
	t_abort = wall_now();
	sh("touch '%s'", stop);
	reap_runners(kids);
	/* then 50 at once again, 4 runs each: all started after the abort was in effect */
	unlink(stop);
	spawn_runners(f, path, stop, kids, 4);
	reap_runners(kids);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM runs WHERE start_wall_ns > %lld AND outcome != 'exec'",
		 (long long)t_abort);
	assert_true(wait_for(db_try_count(f, sql) >= 200, 4 * WAIT_MS));
	assert_true(wait_for(db_try_count(f, "SELECT count(*) FROM runs WHERE outcome IS NULL") == 0, 4 * WAIT_MS));
	assert_true(wait_for(db_try_count(f, "SELECT count(*) FROM versions WHERE health = 'pruned'") == 1, WAIT_MS));
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM runs r JOIN canaries k ON r.version_id = k.canary_id WHERE r.outcome != 'exec' "
		 "AND r.start_wall_ns > %lld",
		 (long long)t_abort);
	assert_int_equal(db_count(f, sql), 0);
	/* and the control: the canary did run during the rollout */
	assert_true(db_count(f, "SELECT count(*) FROM runs r JOIN canaries k ON r.version_id = k.canary_id "
				"WHERE r.outcome != 'exec'") > 1);
	collector_stop(f);
	free(stop);
	free(path);
}

/* patches 4 bytes at off of the file at path */
static void patch32(const char *path, off_t off, uint32_t v)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &v, sizeof(v), off), (ssize_t)sizeof(v));
	close(fd);
}

/*
 * The route table's format is versioned: a reader of another version (an
 * older shim reading v4, a newer table) routes nothing, never a wrong
 * route; a weight out of range is refused by the writer and by the reader.
 */
static void test_route_format_versions(void **state)
{
	struct fixture *f = *state;
	char *path, *target, *rp = routes_file(f), out[4096];
	struct dise_route_in e = { 0 };
	struct dise_file_id to;
	uint32_t pct = 0;
	struct run_result r;
	char *argv[2];

	assert_true(asprintf(&path, "%s/tool", f->dir) > 0);
	assert_true(asprintf(&target, "%s/.dise-stable", f->dir) > 0);
	sh("cp '%s' '%s' && cp '%s' '%s' && chmod 0555 '%s'", prog_path("canaryprog-canary"), path,
	   prog_path("canaryprog-stable"), target, target);
	file_id_of(path, &e.from);
	target_of(target, &e);
	e.target = target;
	e.canary_pct = 100;
	assert_int_equal(dise_routes_write(rp, &e, 1), -EINVAL);
	e.canary_pct = 0; /* every run to the stable: a shim that reads the table runs it */
	assert_int_equal(dise_routes_write(rp, &e, 1), 0);
	assert_int_equal(dise_routes_lookup(rp, (uint32_t)geteuid(), &e.from, out, sizeof(out), &to, NULL, NULL, &pct), 1);
	argv[0] = path, argv[1] = NULL;
	/* the ring's header says routes exist (the hint the shim looks at first; the collector's job) */
	watched(f, argv, &r); /* makes the ring */
	run_result_free(&r);
	{
		dise_ring ring;

		assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE, 0, 0, &ring), 0);
		atomic_store(&ring.hdr->nroutes, 1);
		dise_ring_unmap(&ring);
	}
	watched(f, argv, &r);
	assert_string_equal(r.out, "stable\n");
	run_result_free(&r);
	/* the same table saying version 2 (or 4): no route, the file runs as it is */
	patch32(rp, offsetof(struct dise_routes_header, version), 2);
	assert_true(dise_routes_lookup(rp, (uint32_t)geteuid(), &e.from, out, sizeof(out), &to, NULL, NULL, &pct) != 1);
	watched(f, argv, &r);
	assert_string_equal(r.out, "canary\n");
	run_result_free(&r);
	patch32(rp, offsetof(struct dise_routes_header, version), DISE_ROUTES_VERSION + 1);
	watched(f, argv, &r);
	assert_string_equal(r.out, "canary\n");
	run_result_free(&r);
	free(path);
	free(target);
	free(rp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_route_format_versions, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_split_chain_restart, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_promoted_through_steps, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_abort_on_first_unknown_crash, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_parallel_runs_never_run_pruned, fixture_setup, fixture_teardown),
	};

	if (getenv("DISE_TEST_FILTER")) /* one test by name, when debugging */
		cmocka_set_test_filter(getenv("DISE_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
