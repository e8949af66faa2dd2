/* SPDX-License-Identifier: MIT */
/*
 * `dise core install | uninstall | status` (issue 12): on stand-in sysctl
 * files ($DISE_CORE_SYSCTL), and for real: test_real_install sets the
 * machine's kernel.core_pattern to dise-coredump, so that every crash on the
 * machine goes through it while it runs; ctest runs this binary alone
 * (RUN_SERIAL), and the pattern and core_pipe_limit are put back in the
 * teardown and at exit, whatever happened.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stddef.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core-util.h"
#include "harness.h"

#include <cmocka.h>


/* Stand-in sysctl files in sys (pattern, core_pipe_limit 0) and a state file of f's: their environment entries (4300 bytes each). */
static void stand_ins(struct fixture *f, const char *sys, const char *pattern, char *env_sys, char *env_state)
{
	char path[4200];

	snprintf(env_sys, 4300, "DISE_CORE_SYSCTL=%s", sys);
	snprintf(env_state, 4300, "DISE_CORE_STATE=%s/var/core-previous", f->dir);
	snprintf(path, sizeof(path), "%s/core_pattern", sys);
	assert_int_equal(write_line(path, pattern), 0);
	snprintf(path, sizeof(path), "%s/core_pipe_limit", sys);
	assert_int_equal(write_line(path, "0\n"), 0);
}

/* dise core install / uninstall / status on stand-in sysctl files: exactly back as it was. */
static void test_install_files(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *sys = scratch(f, "sys"), path[4200], env_sys[4300], env_state[4300], *v;
	const char *env[] = {env_sys, env_state, NULL};
	char *install[] = {(char *)bin_path("dise"), "core", "install", NULL};
	char *uninstall[] = {(char *)bin_path("dise"), "core", "uninstall", NULL};
	char *status[] = {(char *)bin_path("dise"), "core", "status", NULL};

	stand_ins(f, sys, "|/usr/lib/systemd/systemd-coredump %P %u %g %s %t %c %h\n", env_sys, env_state);

	assert_int_equal(run_cmd(install, env, NULL, &r), 0);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	snprintf(path, sizeof(path), "%s/core_pattern", sys);
	assert_non_null(v = slurp(path));
	assert_true(!strncmp(v, "|", 1) && strstr(v, "/dise-coredump %P %i %I %s %t %u %g %c %d %p %h %C %e %f %E"));
	free(v);
	snprintf(path, sizeof(path), "%s/core_pipe_limit", sys);
	assert_non_null(v = slurp(path));
	assert_string_equal(v, "16");
	free(v);
	assert_int_equal(run_cmd(status, env, NULL, &r), 0);
	assert_non_null(strstr(r.out, "installed, chaining to: |/usr/lib/systemd/systemd-coredump %P %u %g %s %t %c %h"));
	run_result_free(&r);
	assert_int_equal(run_cmd(install, env, NULL, &r), 0); /* again: nothing changes, the saved pattern stays */
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "already installed"));
	run_result_free(&r);

	assert_int_equal(run_cmd(uninstall, env, NULL, &r), 0);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	snprintf(path, sizeof(path), "%s/core_pattern", sys);
	assert_non_null(v = slurp(path));
	assert_string_equal(v, "|/usr/lib/systemd/systemd-coredump %P %u %g %s %t %c %h");
	free(v);
	snprintf(path, sizeof(path), "%s/core_pipe_limit", sys);
	assert_non_null(v = slurp(path));
	assert_string_equal(v, "0");
	free(v);
	assert_int_equal(run_cmd(uninstall, env, NULL, &r), 0); /* twice: says so, fails */
	assert_int_equal(WEXITSTATUS(r.status), 1);
	assert_non_null(strstr(r.err, "not installed"));
	run_result_free(&r);
	free(sys);
}

/* A handler anyone but root could replace is not installed: the kernel would run it as root. */
static void test_install_refuses_writable_handler(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *sys = scratch(f, "sys"), *open_dir = scratch(f, "open"), path[4200], env_sys[4300], env_state[4300];
	const char *env[] = {env_sys, env_state, NULL};
	char *install[] = {(char *)bin_path("dise"), "core", "install", "--handler", path, NULL};
	char cmd[8600];

	stand_ins(f, sys, "core\n", env_sys, env_state);
	assert_int_equal(chmod(open_dir, 0777), 0);
	snprintf(path, sizeof(path), "%s/dise-coredump", open_dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", bin_path("dise-coredump"), path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(run_cmd(install, env, NULL, &r), 0);
	assert_int_equal(WEXITSTATUS(r.status), 1);
	assert_non_null(strstr(r.err, "can be written by someone other than root"));
	run_result_free(&r);
	snprintf(path, sizeof(path), "%s/core_pattern", sys);
	{
		char *v = slurp(path);

		assert_non_null(v);
		assert_string_equal(v, "core\n");
		free(v);
	}
	free(open_dir);
	free(sys);
}

/* ---- test-coredump-install: the real kernel.core_pattern (run alone) ---- */

#define REAL_STATE "/var/lib/dise/core-previous" /* the kernel gives the handler no environment: the default */

static void need_real_install(void)
{
	if (geteuid() != 0 || access(PATTERN, W_OK) < 0) {
		print_message("needs root and a writable kernel.core_pattern: it installs dise-coredump for real\n");
		skip();
	}
	if (access(REAL_STATE, F_OK) == 0) {
		print_message("dise-coredump is installed on this machine (" REAL_STATE "): left alone\n");
		skip();
	}
}

static void restore_real(void)
{
	restore_pattern();
	unlink(REAL_STATE);
	rmdir("/var/lib/dise"); /* when the install made it: not when anything else is in it */
}

static void test_real_install(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *dir = scratch(f, "c"), preload[4200], now[256], cf[4300];
	const char *env[] = {"DISE_CORE_STATE=", NULL};
	char *install[] = {(char *)bin_path("dise"), "core", "install", NULL};
	char *uninstall[] = {(char *)bin_path("dise"), "core", "uninstall", NULL};
	char *crash_static[] = {(char *)prog_path("static-crasher"), "segv", NULL};
	char *crash_shim[] = {(char *)prog_path("crasher"), "segv", NULL};
	const char *crash_env[] = {f->env_ring, NULL};
	const char *shim_env[] = {f->env_ring, preload, NULL};
	pid_t pid, shim_pid;
	char *core;

	need_real_install();
	assert_int_equal(read_line(PATTERN, saved_pattern, sizeof(saved_pattern)), 0);
	assert_int_equal(read_line(PIPE_LIMIT, saved_limit, sizeof(saved_limit)), 0);
	pattern_changed = 1; /* from here on, teardown puts both back whatever happens */
	atexit(restore_real);
	if (strcmp(saved_pattern, "core"))
		assert_int_equal(write_line(PATTERN, "core"), 0); /* the previous handler whose files are checked */
	collect_once(f, &r); /* the ring */
	run_result_free(&r);
	assert_int_equal(run_cmd(install, env, NULL, &r), 0);
	assert_int_equal(r.status, 0);
	run_result_free(&r);

	/* a static binary: recorded from the core, and its core file written where "core" put it */
	core = make_core(dir, crash_static, crash_env, &pid);
	snprintf(cf, sizeof(cf), "%s/core", dir);
	assert_true(file_size(cf) > 4096);
	unlink(core);
	free(core);
	/* a shim-watched crash: the kernel dumps it too, recorded once */
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", shim_path());
	core = make_core(dir, crash_shim, shim_env, &shim_pid);
	free(core);

	assert_int_equal(run_cmd(uninstall, env, NULL, &r), 0);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	assert_int_equal(read_line(PATTERN, now, sizeof(now)), 0);
	assert_string_equal(now, strcmp(saved_pattern, "core") ? "core" : saved_pattern);
	restore_real();

	collect_once(f, &r);
	run_result_free(&r);
	{
		char q[256];

		snprintf(q, sizeof(q), "SELECT COUNT(*) FROM crashes c JOIN runs r ON r.id = c.run_id WHERE r.pid = %d "
			 "AND c.frames LIKE '%%dise_test_crash_segv%%' AND r.path LIKE '%%/static-crasher'", (int)pid);
		assert_int_equal(db_count(f, q), 1);
		snprintf(q, sizeof(q), "SELECT COUNT(*) FROM crashes c JOIN runs r ON r.id = c.run_id WHERE r.pid = %d",
			 (int)shim_pid);
		assert_int_equal(db_count(f, q), 1);
		snprintf(q, sizeof(q), "SELECT COUNT(*) FROM runs WHERE pid = %d", (int)shim_pid);
		assert_int_equal(db_count(f, q), 1);
	}
	free(dir);
}

static int real_teardown(void **state)
{
	(void)state;
	if (pattern_changed)
		restore_real();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_install_files, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_install_refuses_writable_handler, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_real_install, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, real_teardown);
}
