/* SPDX-License-Identifier: MIT */
/*
 * Issue 10, observations 3, 5 and 6: no path the collector or a command
 * opens can make it wait forever (a FIFO at the executable, a crashed
 * module, dise.json, the database, the ring); another user pre-creating
 * /dev/shm/dise-<uid> does not switch dise off silently; every file dise
 * creates has its own mode whatever the umask.
 *
 * A hang shows as a failed test, not a stuck one: each command runs under
 * timeout(1) (a bound, never a synchronisation).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sqlite3.h>
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

#include "harness.h"

#define BOUND "60" /* seconds: a command that takes this long is stuck */

static void sh(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int st;

	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	st = system(cmd);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		print_error("failed: %s\n", cmd);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	free(cmd);
}

/* A dise binary with f's ring and home, under timeout: 124 when it hung. */
static int bounded(struct fixture *f, const char *bin, const char *a1, const char *a2, struct run_result *r)
{
	char *argv[] = { "/usr/bin/timeout", "-s", "KILL", BOUND, (char *)bin_path(bin), (char *)a1, (char *)a2, NULL };

	dise_cmd(f, argv, r);
	return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : 128 + WTERMSIG(r->status);
}

static void shimmed(struct fixture *f, char *const argv[])
{
	struct run_result r;
	char *pre;
	const char *env[4];

	assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
	env[0] = pre, env[1] = f->env_ring, env[2] = f->env_home, env[3] = NULL;
	assert_int_equal(run_cmd(argv, env, NULL, &r), 0);
	run_result_free(&r);
	free(pre);
}

/*
 * A START whose executable, and a CRASH whose module, is a FIFO by the
 * time the collector looks (the file ran, then was replaced): the resolver
 * (hashing) and ingest (unwinding the crash, inside its write transaction)
 * refuse it at once; the runs are stored, without a version.
 */
static void test_fifo_exe_and_module(void **state)
{
	struct fixture *f = *state;
	char *exe, *crash, *a1[] = { NULL, "0", NULL }, *a2[] = { NULL, NULL };
	struct run_result r;

	assert_true(asprintf(&exe, "%s/exitcode", f->dir) > 0);
	assert_true(asprintf(&crash, "%s/crasher", f->dir) > 0);
	sh("cp '%s' '%s' && cp '%s' '%s'", prog_path("exitcode"), exe, prog_path("crasher"), crash);
	a1[0] = exe, a2[0] = crash;
	shimmed(f, a1);
	shimmed(f, a2);
	sh("rm '%s' '%s' && mkfifo '%s' '%s'", exe, crash, exe, crash);
	assert_int_equal(bounded(f, "dise-collectord", "--once", NULL, &r), 0);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE outcome IS NOT NULL"), 2);
	free(exe);
	free(crash);
}

/*
 * A hung filesystem (the test-only switch DISE_TEST_HANG_OPEN makes every
 * open under a directory block forever, as a dead NFS server does): the
 * resolver and ingest give up on those files after their deadline
 * (shortened by DISE_TEST_FILE_DEADLINE_MS); their runs are stored, without
 * a version, and a program elsewhere gets its version as always.
 */
static void test_hung_filesystem(void **state)
{
	struct fixture *f = *state;
	char *dir, *hang, *exe, *crash, *a1[] = { NULL, "0", NULL }, *a2[] = { NULL, NULL };
	char *a3[] = { (char *)prog_path("exitcode"), "0", NULL };
	char *argv[] = { "/usr/bin/timeout", "-s", "KILL", BOUND, (char *)bin_path("dise-collectord"), "--once", NULL };
	const char *env[] = { f->env_ring, f->env_home, NULL, "DISE_TEST_FILE_DEADLINE_MS=300", NULL };
	struct run_result r;

	assert_true(asprintf(&dir, "%s/nfs/", f->dir) > 0);
	assert_true(asprintf(&hang, "DISE_TEST_HANG_OPEN=%s", dir) > 0);
	env[2] = hang;
	assert_true(asprintf(&exe, "%sexitcode", dir) > 0);
	assert_true(asprintf(&crash, "%scrasher", dir) > 0);
	sh("mkdir -p '%s' && cp '%s' '%s' && cp '%s' '%s'", dir, prog_path("exitcode"), exe, prog_path("crasher"), crash);
	a1[0] = exe, a2[0] = crash;
	shimmed(f, a1);
	shimmed(f, a2);
	shimmed(f, a3);
	assert_int_equal(run_cmd(argv, env, NULL, &r), 0);
	if (r.status != 0)
		print_error("collector: status %d: %s\n", r.status, r.err);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE outcome IS NOT NULL"), 3);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE version_id > 0"), 1); /* the one elsewhere */
	free(dir);
	free(hang);
	free(exe);
	free(crash);
}

/* dise.json, dise.db (and a journal), the collector's lock and the ring as FIFOs: a one-line error, never a wait */
static void test_fifo_config_db_ring(void **state)
{
	struct fixture *f = *state;
	char *p;
	struct run_result r;

	sh("mkdir -p '%s'", f->home);
	assert_true(asprintf(&p, "%s/dise.json", f->home) > 0);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(bounded(f, "dise-collectord", "--once", NULL, &r), 1);
	assert_non_null(strstr(r.err, "not a regular file"));
	run_result_free(&r);
	unlink(p);
	free(p);

	assert_true(asprintf(&p, "%s/dise.db", f->home) > 0);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(bounded(f, "dise-collectord", "--once", NULL, &r), 1);
	run_result_free(&r);
	assert_int_equal(bounded(f, "dise", "runs", NULL, &r), 1);
	run_result_free(&r);
	unlink(p);
	free(p);

	collect_once(f, &r); /* a real database, then a FIFO as its journal */
	run_result_free(&r);
	assert_true(asprintf(&p, "%s/dise.db-wal", f->home) > 0);
	unlink(p);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(bounded(f, "dise", "runs", NULL, &r), 1);
	run_result_free(&r);
	unlink(p);
	free(p);

	assert_true(asprintf(&p, "%s/collector.lock", f->home) > 0);
	unlink(p);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(bounded(f, "dise", "collector", "status", &r), 1);
	run_result_free(&r);
	assert_int_equal(bounded(f, "dise-collectord", "--once", NULL, &r), 1);
	assert_non_null(strstr(r.err, "not a regular file"));
	run_result_free(&r);
	unlink(p);
	free(p);

	unlink(f->ring);
	assert_int_equal(mkfifo(f->ring, 0600), 0);
	assert_int_equal(bounded(f, "dise", "ring", "stat", &r), 1);
	run_result_free(&r);
	assert_int_equal(bounded(f, "dise", "ring", "dump", &r), 1);
	run_result_free(&r);
	unlink(f->ring);
}

/* A permissive umask and a state directory that already existed (0755): the files keep to their owner */
static void test_modes(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { (char *)prog_path("exitcode"), "0", NULL };
	char *add[] = { (char *)bin_path("dise"), "tool", "add", "m", (char *)prog_path("exitcode"), "--version", "v1", NULL };
	const char *names[] = { "dise.db", "dise.db-wal", "dise.db-shm", "collector.lock" };
	struct run_result r;
	struct stat st;
	mode_t old = umask(0);
	sqlite3 *db;
	size_t i;
	char *p;

	sh("mkdir -p '%s' && chmod 755 '%s'", f->home, f->home);
	shimmed(f, argv);
	collector_start(f, "--foreground", NULL, NULL);
	dise_cmd(f, add, &r);
	run_result_free(&r);
	assert_true(asprintf(&p, "%s/dise.db", f->home) > 0);
	db = db_open(p); /* a reader while the collector runs: -wal and -shm exist, made as SQLite makes them */
	assert_int_equal(sqlite3_exec(db, "SELECT count(*) FROM runs", NULL, NULL, NULL), SQLITE_OK);
	free(p);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_true(asprintf(&p, "%s/%s", f->home, names[i]) > 0);
		if (stat(p, &st) != 0)
			sh("ls -la '%s' >&2", f->home);
		assert_int_equal(stat(p, &st), 0);
		if (st.st_mode & 077)
			print_error("%s: mode %o\n", names[i], st.st_mode & 07777);
		assert_int_equal(st.st_mode & 077, 0);
		free(p);
	}
	sqlite3_close(db);
	collector_stop(f);
	umask(old);
	assert_true(asprintf(&p, "find '%s/cas' -maxdepth 1 -type f -perm /077 | grep -q .", f->home) > 0);
	assert_int_not_equal(system(p), 0); /* no copy in the store others can read */
	free(p);
	assert_true(asprintf(&p, "find '%s/cas' -maxdepth 1 -type f | grep -q .", f->home) > 0);
	assert_int_equal(system(p), 0); /* and there is one */
	free(p);
}

/*
 * Another user pre-creates /dev/shm/dise-<uid> of a user the test makes:
 * a FIFO, a directory, a symbolic link, a file of its own. The victim's
 * programs record all the same, into the fallback ring (its state
 * directory here: no $XDG_RUNTIME_DIR), `dise health` says so in one line,
 * `dise ring stat` answers and `dise ring reset` works. Needs root to make
 * the two users (useradd); skipped otherwise.
 */
static char users[2][32]; /* made by the test below, removed by its teardown whatever happened */

static int users_teardown(void **state)
{
	char cmd[128];
	int i;

	for (i = 0; i < 2; i++)
		if (users[i][0]) {
			struct passwd *pw = getpwnam(users[i]);

			if (pw && i == 1) {
				snprintf(cmd, sizeof(cmd), "rm -rf /dev/shm/dise-%u", (unsigned)pw->pw_uid);
				if (system(cmd) != 0)
					print_message("cannot remove the victim's ring path\n");
			}
			snprintf(cmd, sizeof(cmd), "userdel %s", users[i]);
			if (system(cmd) != 0)
				print_message("cannot remove user %s\n", users[i]);
			users[i][0] = '\0';
		}
	return fixture_teardown(state);
}

static void test_foreign_ring_path(void **state)
{
	static const char *const kinds[] = { "mkfifo \"$0\"", "mkdir \"$0\"", "ln -s /etc/passwd \"$0\"",
					     "touch \"$0\" && chmod 666 \"$0\"" };
	struct fixture *f = *state;
	char *atk = users[0], *vic = users[1], *vhome, *shm, *cmd = NULL;
	struct passwd *pw;
	uid_t vuid;
	size_t k;

	if (geteuid() != 0 || access("/usr/sbin/useradd", X_OK) != 0 || access("/usr/bin/setpriv", X_OK) != 0) {
		print_message("skipped: making a second user needs root, useradd and setpriv\n");
		skip();
	}
	snprintf(atk, sizeof(users[0]), "dise-a%d", (int)getpid() % 100000);
	sh("useradd -M -N -s /bin/sh %s", atk);
	snprintf(vic, sizeof(users[1]), "dise-v%d", (int)getpid() % 100000);
	sh("useradd -M -N -s /bin/sh %s", vic);
	pw = getpwnam(vic);
	assert_non_null(pw);
	vuid = pw->pw_uid;
	assert_true(asprintf(&vhome, "%s/vhome", f->dir) > 0);
	assert_true(asprintf(&shm, "/dev/shm/dise-%u", (unsigned)vuid) > 0);
	sh("chmod 755 '%s' && mkdir -p '%s' && chown %s '%s' && chmod 700 '%s'", f->dir, vhome, vic, vhome, vhome);
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		char *as_atk, *as_vic;

		assert_true(asprintf(&as_atk, "setpriv --reuid=%s --regid=%u --clear-groups", atk, (unsigned)getpwnam(atk)->pw_gid) > 0);
		assert_true(asprintf(&as_vic,
				     "env -u XDG_RUNTIME_DIR -u DISE_RING DISE_HOME='%s' timeout -s KILL " BOUND
				     " setpriv --reuid=%s --regid=%u --clear-groups",
				     vhome, vic, (unsigned)pw->pw_gid) > 0);
		sh("rm -rf '%s' '%s/ring' && %s sh -c '%s' '%s'", shm, vhome, as_atk, kinds[k], shm);
		/* a watched program records, into the fallback */
		sh("%s env LD_PRELOAD='%s' '%s' 0 > /dev/null", as_vic, shim_path(), prog_path("exitcode"));
		sh("test -f '%s/ring' && test \"$(stat -c %%U '%s/ring')\" = %s", vhome, vhome, vic);
		sh("%s '%s' ring stat --json | grep -q '\"written\": *[1-9]'", as_vic, bin_path("dise"));
		/* said in one line */
		assert_true(asprintf(&cmd, "%s '%s' health 2>&1 | grep -c 'someone else.s or not a ring file' | grep -qx 1",
				     as_vic, bin_path("dise")) > 0);
		sh("%s", cmd);
		free(cmd);
		sh("%s '%s' ring reset && test ! -e '%s/ring'", as_vic, bin_path("dise"), vhome);
		free(as_atk);
		free(as_vic);
	}
	free(vhome);
	free(shm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fifo_exe_and_module, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_hung_filesystem, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_config_db_ring, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_modes, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_foreign_ring_path, fixture_setup, users_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
