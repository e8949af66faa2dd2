/* SPDX-License-Identifier: MIT */
/*
 * Sandboxes are respected (issue 10, observation 14): a child whose
 * environment was cleared on purpose (`env -i`, `bwrap --clearenv`) runs
 * unwatched, exactly as without dise; a child whose environment merely lost
 * LD_PRELOAD stays watched; and no ld.so error ever reaches a program's
 * output because of dise, also where the sandbox does not show the shim's
 * path. bwrap comes from scripts/deps.sh; a test that needs it is skipped,
 * with the reason, only where it cannot run here.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define BWRAP "/usr/bin/bwrap"

/* argv with the shim preloaded and f's ring. */
static void run_watched(struct fixture *f, char *const argv[], struct run_result *ret)
{
	char *pre;
	const char *env[3];

	assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
	env[0] = pre;
	env[1] = f->env_ring;
	env[2] = NULL;
	assert_int_equal(run_cmd(argv, env, NULL, ret), 0);
	free(pre);
}

/* No run in the ring executed a file whose path ends in name. */
static void assert_unwatched(struct fixture *f, const char *name)
{
	struct rec_list l;
	size_t i, n = strlen(name);

	read_ring(f->ring, &l);
	for (i = 0; i < l.n; i++) {
		const char *fn = l.recs[i].type == DISE_REC_START ? l.recs[i].execfn : NULL;
		size_t k = fn ? strlen(fn) : 0;

		if (k >= n && !strcmp(fn + k - n, name)) {
			print_error("%s was watched (pid %u)\n", fn, l.recs[i].hdr.pid);
			fail();
		}
	}
	rec_list_free(&l);
}

/* The run recorded its own image and its exec, and nothing of what it executed. */
static void assert_only_launcher_watched(struct fixture *f, pid_t pid)
{
	struct rec_list l;

	read_ring(f->ring, &l);
	assert_int_equal(count_recs(&l, pid, DISE_REC_START), 1);
	assert_int_equal(count_recs(&l, pid, DISE_REC_EXEC), 1);
	assert_int_equal(count_recs(&l, pid, DISE_REC_EXIT), 0);
	assert_int_equal(count_recs(&l, pid, DISE_REC_CRASH), 0);
	rec_list_free(&l);
}

static void test_env_cleared(void **state)
{
	struct fixture *f = *state;
	char *bare[] = { "/usr/bin/env", "-i", "/usr/bin/env", NULL };
	char *chosen[] = { "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "HOME=/nonexistent", "/usr/bin/env", NULL };
	struct run_result r;

	/* byte for byte as without dise: no LD_PRELOAD, no DISE_RING put back */
	assert_transparent(bare, f->ring, NULL, &r);
	assert_string_equal(r.out, "");
	assert_only_launcher_watched(f, r.pid);
	run_result_free(&r);

	assert_transparent(chosen, f->ring, NULL, &r);
	assert_string_equal(r.out, "PATH=/usr/bin:/bin\nHOME=/nonexistent\n");
	assert_only_launcher_watched(f, r.pid);
	run_result_free(&r);
}

/* The other side of the line: an environment that keeps ours but lost the shim's variables is still watched. */
static void test_env_lost(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { "/usr/bin/env", "-u", "LD_PRELOAD", "-u", "DISE_RING", "/usr/bin/env", NULL };
	struct run_result r;
	struct rec_list l;
	char *pre;

	run_watched(f, argv, &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	assert_true(asprintf(&pre, "\nLD_PRELOAD=%s\n", shim_path()) > 0);
	assert_non_null(strstr(r.out, pre));
	assert_non_null(strstr(r.out, f->env_ring));
	read_ring(f->ring, &l);
	assert_int_equal(count_recs(&l, r.pid, DISE_REC_START), 2);
	assert_int_equal(count_recs(&l, r.pid, DISE_REC_EXIT), 1);
	rec_list_free(&l);
	free(pre);
	run_result_free(&r);
}

/* Skips the test, with the reason, when bwrap cannot make a sandbox here. */
static void need_bwrap(void)
{
	char *argv[] = { BWRAP, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "/bin/true", NULL };
	struct run_result r;

	if (access(BWRAP, X_OK) != 0) {
		print_message("skipped: %s is not installed (scripts/deps.sh installs bubblewrap)\n", BWRAP);
		skip();
	}
	assert_int_equal(run_cmd(argv, NULL, NULL, &r), 0);
	if (r.status != 0) {
		print_message("skipped: bwrap cannot make a sandbox here: %s", r.err);
		run_result_free(&r);
		skip();
	}
	run_result_free(&r);
}

static void test_bwrap_clearenv(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { BWRAP, "--clearenv", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "/usr/bin/env",
			 NULL };
	struct run_result r;

	need_bwrap();
	assert_transparent(argv, f->ring, NULL, &r);
	assert_null(strstr(r.out, "LD_PRELOAD"));
	assert_unwatched(f, "/env");
	run_result_free(&r);
}

/*
 * A sandbox that shows /usr only: the shim's path is not there. With the
 * environment kept (LD_PRELOAD inherited) or cleared, the sandboxed program
 * says what it says without dise, and not a word from ld.so.
 */
static void test_bwrap_hides_shim(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { BWRAP, "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
			 "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/sbin", "/sbin", "--dev", "/dev", "--proc",
			 "/proc", "/bin/echo", "sandboxed", NULL };
	char *env_argv[] = { BWRAP, "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib",
			     "/lib", "--symlink", "usr/lib64", "/lib64", "--dev", "/dev", "--proc", "/proc", "/usr/bin/env",
			     NULL };
	struct run_result r;

	need_bwrap();
	if (!strncmp(shim_path(), "/usr/", 5)) {
		print_message("skipped: the shim is under /usr (%s), which this sandbox shows\n", shim_path());
		skip();
	}
	assert_transparent(argv, f->ring, NULL, &r);
	assert_string_equal(r.out, "sandboxed\n");
	assert_string_equal(r.err, "");
	assert_unwatched(f, "/echo");
	run_result_free(&r);

	/* the environment goes on, without the shim it could not load */
	run_watched(f, env_argv, &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	assert_null(strstr(r.out, "libdise_shim"));
	assert_non_null(strstr(r.out, f->env_ring));
	run_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_env_cleared, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_env_lost, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_bwrap_clearenv, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_bwrap_hides_shim, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
