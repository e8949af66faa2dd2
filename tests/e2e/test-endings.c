/* SPDX-License-Identifier: MIT */
/*
 * How a process really ended (issue 16, observation 7; "What to build" 2):
 * endings the shim cannot see itself are learnt from the parent that reaps
 * the child (a REAP record of the wait status) or from `dise run`'s wait4,
 * and a signal a process re-raised after its child died of it is the
 * child's. Real programs: a Go program built here (the Go runtime exits by a
 * raw exit_group), C's raw exit_group and quick_exit, GNU timeout wrapping a
 * crashing program, a python3 multiprocessing pool.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
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
#include "harness.h"

/* Runs `sh -c script` with the shim preloaded (sh is the watched parent that reaps); returns its wait status. */
static int watched_sh(struct fixture *f, const char *script)
{
	char *pre;
	const char *env[] = { NULL, f->env_ring, NULL };
	char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };
	struct run_result r;
	int st;

	assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
	env[0] = pre;
	assert_int_equal(run_cmd(argv, env, NULL, &r), 0);
	st = r.status;
	run_result_free(&r);
	free(pre);
	return st;
}

static void collect(struct fixture *f)
{
	struct run_result r;

	collect_once(f, &r);
	run_result_free(&r);
}

/* count(*) of runs at path (absolute) that match cond. */
static int64_t runs_at(struct fixture *f, const char *path, const char *cond)
{
	char *sql;
	int64_t n;

	assert_true(asprintf(&sql, "SELECT count(*) FROM runs WHERE path = '%s' AND (%s)", path, cond) > 0);
	n = db_count(f, sql);
	free(sql);
	return n;
}

/* Nothing judged at path: no heal request, no version other than healthy. */
static void assert_unjudged(struct fixture *f, const char *path)
{
	char *sql;

	assert_true(asprintf(&sql, "SELECT (SELECT count(*) FROM versions WHERE path = '%s' AND health != 'healthy') + "
				   "(SELECT count(*) FROM heal_requests h JOIN versions v ON v.id = h.version_id "
				   "WHERE v.path = '%s')",
			     path, path) > 0);
	assert_int_equal(db_count(f, sql), 0);
	free(sql);
}

/* C: raw exit_group and quick_exit under a watched shell: the shell's wait status ends the runs, with their status. */
static void test_raw_exit_group(void **state)
{
	struct fixture *f = *state;
	char *script, *p = strdup(prog_path("rawexit"));

	/* `; true`: the shell forks and waits (a last simple command would be exec'd in place) */
	assert_true(asprintf(&script, "'%s' group 0; '%s' group 3; '%s' quick 5; true", p, p, p) > 0);
	assert_int_equal(watched_sh(f, script), 0);
	collect(f);
	assert_int_equal(runs_at(f, p, "1"), 3);
	assert_int_equal(runs_at(f, p, "outcome = 'ok' AND exit_status = 0 AND reaped = 1"), 1);
	assert_int_equal(runs_at(f, p, "outcome = 'fail' AND exit_status = 3 AND reaped = 1"), 1);
	assert_int_equal(runs_at(f, p, "outcome = 'fail' AND exit_status = 5 AND reaped = 1"), 1);
	assert_int_equal(runs_at(f, p, "outcome = 'vanished'"), 0);
	free(script);
	free(p);
}

/* A Go program (cgo: dynamically linked, the shim loads) built here; NULL with the reason when go cannot build. */
static char *build_go(struct fixture *f)
{
	char *out, *cmd;
	int st;

	if (system("command -v go >/dev/null 2>&1") != 0)
		return NULL;
	assert_true(asprintf(&out, "%s/goexit", f->dir) > 0);
	assert_true(asprintf(&cmd,
			     "cd '%s' && env -u LD_PRELOAD CGO_ENABLED=1 GOFLAGS=-mod=mod GOCACHE='%s/go-cache' "
			     "GOPATH='%s/go-path' HOME='%s' go build -o '%s' goexit.go",
			     DISE_SOURCE_DIR "/tests/progs/go", DISE_BUILD_DIR, DISE_BUILD_DIR, f->dir, out) > 0);
	st = system(cmd);
	free(cmd);
	assert_int_equal(st, 0); /* go is there: a build that fails is a failure, not a skip */
	return out;
}

/* Every run of a dynamically linked Go program gets its real exit status: under a watched parent, and under dise run. */
static void test_go_exit_status(void **state)
{
	struct fixture *f = *state;
	char *go = build_go(f), *script;
	struct run_result r;

	if (!go) {
		fprintf(stderr, "skipped: no go toolchain (scripts/deps.sh installs golang-go)\n");
		skip();
	}
	assert_true(asprintf(&script, "'%s' 0; '%s' 7; true", go, go) > 0);
	assert_int_equal(watched_sh(f, script), 0);
	{
		char *argv[] = { (char *)bin_path("dise"), "run", go, "4", NULL };

		dise_cmd(f, argv, &r);
		assert_true(WIFEXITED(r.status));
		assert_int_equal(WEXITSTATUS(r.status), 4);
		run_result_free(&r);
	}
	collector_stop(f); /* dise run started one */
	collect(f);
	assert_int_equal(runs_at(f, go, "1"), 3);
	assert_int_equal(runs_at(f, go, "outcome = 'ok' AND exit_status = 0"), 1);
	assert_int_equal(runs_at(f, go, "outcome = 'fail' AND exit_status = 7"), 1);
	assert_int_equal(runs_at(f, go, "outcome = 'fail' AND exit_status = 4"), 1);
	assert_int_equal(runs_at(f, go, "outcome = 'vanished' OR outcome IS NULL"), 0);
	free(script);
	free(go);
}

/*
 * GNU timeout re-raises its child's SIGSEGV and dies of it: the crash is the
 * child's. timeout's CRASH says re-raised, and is never a strike against
 * timeout; the crashing program's own crashes count against it.
 */
static void test_timeout_reraise(void **state)
{
	struct fixture *f = *state;
	char *script, *c = strdup(prog_path("crasher"));
	int i;

	assert_true(asprintf(&script, "timeout 30 '%s' segv; true", c) > 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(watched_sh(f, script), 0);
	collect(f);
	assert_int_equal(runs_at(f, "/usr/bin/timeout", "outcome = 'crash'"), 3);
	assert_int_equal(db_count(f, "SELECT count(*) FROM crashes c JOIN runs r ON r.id = c.run_id "
				     "WHERE r.path = '/usr/bin/timeout' AND c.reraised = 1 AND c.signal = 11"),
			 3);
	assert_unjudged(f, "/usr/bin/timeout");
	/* the crasher's own crashes count: a first version crashing three times is failing */
	assert_int_equal(runs_at(f, c, "outcome = 'crash'"), 3);
	assert_int_equal(db_count(f, "SELECT count(*) FROM crashes WHERE reraised = 1"), 3);
	{
		char *sql;

		assert_true(asprintf(&sql, "SELECT count(*) FROM versions WHERE path = '%s' AND health = 'failing'", c) > 0);
		assert_int_equal(db_count(f, sql), 1);
		free(sql);
	}
	free(script);
	free(c);
}

/* A multiprocessing.Pool script that exits 0 (its workers are SIGTERMed at shutdown), over two releases: nothing judged. */
static void test_python_pool(void **state)
{
	static const char body[] = "import multiprocessing\n"
				   "def sq(x):\n"
				   "    return x * x\n"
				   "if __name__ == '__main__':\n"
				   "    with multiprocessing.Pool(2) as p:\n"
				   "        print(sum(p.map(sq, range(50))))\n";
	struct fixture *f = *state;
	char *py, *script;
	FILE *o;
	int v, i;

	if (access("/usr/bin/python3", X_OK) != 0) {
		fprintf(stderr, "skipped: no /usr/bin/python3 (scripts/deps.sh installs python3)\n");
		skip();
	}
	assert_true(asprintf(&py, "%s/pool.py", f->dir) > 0);
	assert_true(asprintf(&script, "/usr/bin/python3 '%s' >/dev/null; true", py) > 0);
	for (v = 1; v <= 2; v++) {
		assert_non_null(o = fopen(py, "w"));
		fprintf(o, "%s# release %d\n", body, v);
		fclose(o);
		for (i = 0; i < 4; i++)
			assert_int_equal(watched_sh(f, script), 0);
		collect(f);
	}
	assert_int_equal(runs_at(f, py, "outcome = 'ok' AND forked = 0"), 8);
	assert_true(runs_at(f, py, "forked = 1") >= 8); /* its workers ran, watched */
	assert_int_equal(db_count(f, "SELECT count(*) FROM heal_requests"), 0);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE health != 'healthy'"), 0);
	free(py);
	free(script);
}

/*
 * A process killed between reserve and commit (a pool's worker SIGTERMed as
 * it wrote a record) leaves a hole in its shard. dise-collectord --once
 * stopped at it, and every --once after it too: the runs behind it were
 * never stored (test_python_pool once counted 7 ok runs of 8). It goes past
 * the hole at the reader's torn deadline, as the running collector does.
 */
static void test_once_past_hole(void **state)
{
	struct fixture *f = *state;
	uint8_t rec[512];
	dise_ring ring;

	ring_with_hole(f->ring, &ring);
	assert_int_equal(dise_ring_put(&ring, rec, (uint32_t)make_start(rec, 4242, 1000)), 0);
	assert_int_equal(dise_ring_put(&ring, rec, (uint32_t)make_exit(rec, 4242, 1000, 0)), 0);
	dise_ring_unmap(&ring);
	collect(f);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE pid = 4242 AND outcome = 'ok'"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_raw_exit_group, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_go_exit_status, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_timeout_reraise, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_python_pool, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_once_past_hole, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
