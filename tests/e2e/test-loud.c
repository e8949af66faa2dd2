/* SPDX-License-Identifier: MIT */
/*
 * Errors are loud, text is data. A damaged database is said by every
 * command that reads it, in one line, with a non-zero exit, never shown as
 * an empty history or "nothing recorded yet"; a collector that cannot store
 * says so where `dise health`, `dise collector status` and every reading
 * command see it (and --once ends instead of retrying forever). Whatever a
 * tool's name holds, no control character reaches the terminal.
 */
#define _GNU_SOURCE
#include <fcntl.h>
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
#include <jansson.h>
#include <sqlite3.h>

#include "harness.h"
#include "record-json.h"

/* `dise ARGS...` (up to 6, then NULL) with f's home and ring. */
static void dise(struct fixture *f, struct run_result *r, ...)
{
	char *argv[8] = { (char *)bin_path("dise") };
	va_list ap;
	size_t n = 1;

	va_start(ap, r);
	while (n < 7 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	dise_cmd(f, argv, r);
}

static int exit_status(const struct run_result *r)
{
	return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : 128 + WTERMSIG(r->status);
}

/* n runs of /bin/true recorded into f's ring (and one of the sh that runs them): one process of ours, not n. */
static void record_runs(struct fixture *f, int n)
{
	char *script, *preload;
	struct run_result r;

	assert_true(asprintf(&script, "i=0; while [ $i -lt %d ]; do /bin/true; i=$((i + 1)); done", n) > 0);
	assert_true(asprintf(&preload, "LD_PRELOAD=%s", shim_path()) > 0);
	{
		char *argv[] = { "/bin/sh", "-c", script, NULL };
		const char *env[] = { preload, f->env_ring, f->env_home, NULL };

		assert_int_equal(run_cmd(argv, env, NULL, &r), 0);
	}
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	free(script);
	free(preload);
}

/* Overwrites len bytes of f's dise.db at off with byte b (len 0: from off to the end). */
static void damage(struct fixture *f, off_t off, size_t len, int b)
{
	char *db, *buf;
	struct stat s;
	int fd;

	assert_true(asprintf(&db, "%s/dise.db", f->home) > 0);
	fd = open(db, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &s), 0);
	if (!len)
		len = (size_t)(s.st_size - off);
	buf = malloc(len);
	assert_non_null(buf);
	memset(buf, b, len);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
	free(buf);
	free(db);
}

/* r failed (exit 1), nothing on stdout, one line on stderr that has says in it. */
static void assert_loud(const struct run_result *r, const char *what, const char *says)
{
	const char *nl = strchr(r->err, '\n');

	if (exit_status(r) != 1 || r->out_len || !strstr(r->err, says) || !nl || nl[1])
		fail_msg("%s: status %d, wanted 1 and one line with '%s'; out '%s', err '%s'", what, exit_status(r), says,
			 r->out, r->err);
}

/* Pages of runs replaced by garbage: every reading command fails, saying the database is damaged. */
static void test_damaged_pages(void **state)
{
	struct fixture *f = *state;
	struct run_result r;

	record_runs(f, 3);
	collect_once(f, &r);
	run_result_free(&r);
	dise(f, &r, "runs", NULL);
	assert_int_equal(exit_status(&r), 0);
	assert_non_null(strstr(r.out, "/bin/true"));
	run_result_free(&r);

	damage(f, 4096, 0, 0xa5); /* every page but the first */
	dise(f, &r, "runs", NULL);
	assert_loud(&r, "runs", "the database is damaged");
	run_result_free(&r);
	dise(f, &r, "runs", "--json", NULL);
	assert_loud(&r, "runs --json", "the database is damaged");
	run_result_free(&r);
	dise(f, &r, "health", NULL);
	assert_loud(&r, "health", "the database is damaged");
	run_result_free(&r);
	dise(f, &r, "tools", NULL);
	assert_loud(&r, "tools", "the database is damaged");
	run_result_free(&r);
}

/* A header the schema cannot be read through is a damaged database, not "nothing recorded yet". */
static void test_damaged_header(void **state)
{
	struct fixture *f = *state;
	struct run_result r;

	record_runs(f, 1);
	collect_once(f, &r);
	run_result_free(&r);
	damage(f, 44, 4, 0xff); /* the schema format number */
	dise(f, &r, "runs", NULL);
	assert_loud(&r, "runs", "the database is damaged");
	assert_null(strstr(r.err, "nothing recorded"));
	run_result_free(&r);
}

/*
 * Records waiting and a damaged database: `dise-collectord --once` ends
 * (exit 1, saying why) instead of retrying forever (bounded here by
 * timeout(1), a guard against a hang, not a measure); its error stands for
 * `dise health` and `dise collector status` and fails every reading command
 * until a collector stores again.
 */
static void test_collector_error_published(void **state)
{
	struct fixture *f = *state;
	char *once[] = { "/usr/bin/timeout", "60", (char *)bin_path("dise-collectord"), "--once", NULL };
	char *db, *aside;
	struct run_result r;

	assert_true(asprintf(&db, "%s/dise.db", f->home) > 0);
	assert_true(asprintf(&aside, "%s/dise.db.damaged", f->home) > 0);
	collect_once(f, &r); /* an empty database */
	run_result_free(&r);
	record_runs(f, 2);
	/* the runs table's root page only: the collector opens the database, and fails at the first store */
	damage(f, (db_count(f, "SELECT rootpage FROM sqlite_master WHERE name = 'runs'") - 1) *
			  db_count(f, "PRAGMA page_size"),
	       (size_t)db_count(f, "PRAGMA page_size"), 0xa5);
	dise_cmd(f, once, &r);
	if (exit_status(&r) != 1 || !strstr(r.err, "the database is damaged"))
		fail_msg("--once: status %d (124: it retried until timeout killed it), err '%s'", exit_status(&r), r.err);
	run_result_free(&r);

	dise(f, &r, "collector", "status", NULL);
	assert_int_equal(exit_status(&r), 3); /* not running */
	assert_non_null(strstr(r.out, "the collector's last error"));
	assert_non_null(strstr(r.out, "stopped: storing failed"));
	run_result_free(&r);

	/* moved aside: a new database, and the records that waited in the ring arrive */
	assert_int_equal(rename(db, aside), 0);
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE exe = '/bin/true' OR execfn = '/bin/true'"), 2);
	dise(f, &r, "runs", NULL);
	assert_int_equal(exit_status(&r), 0);
	assert_null(strstr(r.err, "last error"));
	run_result_free(&r);
	free(db);
	free(aside);
}

/* A running collector that cannot store (a full disk): status, health and runs say so and fail. */
static void test_running_collector_cannot_store(void **state)
{
	struct fixture *f = *state;
	char env_pages[64];
	const char *env[] = { env_pages, NULL };
	struct run_result r;
	int pages;

	collect_once(f, &r);
	run_result_free(&r);
	pages = (int)db_count(f, "PRAGMA page_count");
	snprintf(env_pages, sizeof(env_pages), "DISE_TEST_DB_MAX_PAGES=%d", pages);
	collector_start(f, "--foreground", env, "/dev/null");
	record_runs(f, 200);
	{
		int said = 0;

		/* the collector meets the full disk: status says so (exit 1, running but failing) */
		assert_true(wait_for((dise(f, &r, "collector", "status", NULL), said = exit_status(&r) == 1 &&
									       strstr(r.out, "storing fails: No space left"),
				      run_result_free(&r), said),
				     WAIT_MS));
	}
	dise(f, &r, "health", NULL);
	assert_int_equal(exit_status(&r), 1);
	assert_non_null(strstr(r.out, "the collector's last error"));
	run_result_free(&r);
	dise(f, &r, "runs", NULL);
	assert_int_equal(exit_status(&r), 1);
	assert_non_null(strstr(r.err, "storing fails: No space left"));
	run_result_free(&r);
	collector_stop(f);
}

/*
 * A -shm left read-only (made by a reader while the database was 0444:
 * SQLite gives it the database's mode) no longer keeps the collector out
 * once the database is writable: the collector makes its journals
 * owner-writable when it opens the database, and stores.
 */
static void test_readonly_shm_recovered(void **state)
{
	struct fixture *f = *state;
	char *shm;
	struct run_result r;
	struct stat s;
	int fd;

	collect_once(f, &r);
	run_result_free(&r);
	assert_true(asprintf(&shm, "%s/dise.db-shm", f->home) > 0);
	fd = open(shm, O_WRONLY | O_CREAT | O_EXCL, 0444);
	assert_true(fd >= 0);
	/* not empty, as a reader leaves it (SQLite itself fixes the mode of an empty one) */
	assert_int_equal(ftruncate(fd, 32768), 0);
	close(fd);
	assert_int_equal(chmod(shm, 0444), 0);
	collector_start(f, "--foreground", NULL, NULL);
	assert_int_equal(stat(shm, &s), 0);
	if ((s.st_mode & 0600) != 0600)
		fail_msg("the -shm is still %04o", (unsigned)(s.st_mode & 07777));
	record_runs(f, 1);
	assert_true(wait_for(db_try_count(f, "SELECT count(*) FROM runs WHERE outcome = 'ok' "
					     "AND (exe = '/bin/true' OR execfn = '/bin/true')") == 1,
			     WAIT_MS));
	collector_stop(f);
	free(shm);
}

/*
 * The same as another user would meet it, where permissions hold (root's
 * do not): the database 0444, a reader leaves a 0444 -shm; the collector
 * refuses the database in one line, published; writable again, the
 * collector opens it and stores. Needs root (to become nobody) and setpriv.
 */
static void test_readonly_database_as_user(void **state)
{
	struct fixture *f = *state;
	char *db, *ring, *home, *cmd;
	const char *env[] = { NULL, NULL, NULL };
	struct run_result r;

	if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0)
		skip();
	collect_once(f, &r); /* made by root: handed over to nobody below */
	run_result_free(&r);
	assert_true(asprintf(&db, "%s/dise.db", f->home) > 0);
	assert_true(asprintf(&ring, "DISE_RING=%s/ring-nobody", f->dir) > 0);
	assert_true(asprintf(&home, "DISE_HOME=%s", f->home) > 0);
	assert_true(asprintf(&cmd, "chown -R 65534:65534 '%s' && chmod 0444 '%s'", f->dir, db) > 0);
	assert_int_equal(system(cmd), 0);
	env[0] = ring, env[1] = home;
	{
		char *reader[] = { "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
				   (char *)bin_path("dise"), "runs", NULL };
		char *collector[] = { "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
				      (char *)bin_path("dise-collectord"), "--once", NULL };

		assert_int_equal(run_cmd(reader, env, "/", &r), 0);
		assert_int_equal(exit_status(&r), 0);
		run_result_free(&r);
		assert_int_equal(run_cmd(collector, env, "/", &r), 0);
		if (exit_status(&r) != 1 || !strstr(r.err, "not writable"))
			fail_msg("a read-only database: status %d, err '%s'", exit_status(&r), r.err);
		run_result_free(&r);
		assert_int_equal(run_cmd(reader, env, "/", &r), 0);
		assert_int_equal(exit_status(&r), 1); /* the collector's error stands */
		assert_non_null(strstr(r.err, "not writable"));
		run_result_free(&r);
		assert_int_equal(chmod(db, 0644), 0);
		assert_int_equal(run_cmd(collector, env, "/", &r), 0);
		if (exit_status(&r) != 0)
			fail_msg("writable again: status %d, err '%s'", exit_status(&r), r.err);
		run_result_free(&r);
		assert_int_equal(run_cmd(reader, env, "/", &r), 0);
		assert_int_equal(exit_status(&r), 0);
		run_result_free(&r);
	}
	free(db), free(ring), free(home), free(cmd);
}

/* A copy of /bin/true at path. */
static void copy_true(const char *path)
{
	char buf[65536];
	int in = open("/bin/true", O_RDONLY), out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	ssize_t n;

	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

/*
 * A tool whose name sets the terminal's title and clears the screen: no
 * command writes an escape character; the bytes are shown escaped.
 */
static void test_terminal_escapes(void **state)
{
	struct fixture *f = *state;
	static const char *const cmds[] = { "runs", "tools" };
	char *tool, *argv[2];
	struct run_result r;
	size_t i;

	assert_true(asprintf(&tool, "%s/evil\033]0;owned\007\033[2J\033[H", f->dir) > 0);
	copy_true(tool);
	argv[0] = tool, argv[1] = NULL;
	assert_transparent(argv, f->ring, NULL, &r);
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		dise(f, &r, cmds[i], NULL);
		assert_int_equal(exit_status(&r), 0);
		if (memchr(r.out, '\033', r.out_len) || memchr(r.out, '\007', r.out_len) ||
		    memchr(r.err, '\033', r.err_len))
			fail_msg("dise %s wrote a raw escape: %s", cmds[i], r.out);
		if (!strstr(r.out, "evil\\x1b]0;owned\\x07\\x1b[2J"))
			fail_msg("dise %s does not show the name escaped: %s", cmds[i], r.out);
		run_result_free(&r);
	}
	unlink(tool);
	free(tool);
}

/* The exact bytes v holds, in the documented escape of text that is not UTF-8 ({"hex": ...}) or a string. */
static int holds(json_t *v, const char *bytes)
{
	char *b = dise_json_text_bytes(v);
	int same = b && !strcmp(b, bytes);

	free(b);
	return same;
}

/*
 * A tool path and an argument that are not UTF-8: the run is listed by
 * `dise runs --json` (never dropped), the tool and the argument kept byte
 * for byte ({"hex"} in JSON), in the database as in the output: what a rule
 * would replay is what ran, not a '?' in its place.
 */
static void test_non_utf8_text(void **state)
{
	struct fixture *f = *state;
	char *tool, *argv[4], arg[] = "caf\xe9", *stored;
	struct run_result r;
	json_t *runs, *run, *a;
	json_error_t err;

	assert_true(asprintf(&tool, "%s/t\xff\xfe", f->dir) > 0);
	copy_true(tool);
	argv[0] = tool, argv[1] = arg, argv[2] = "plain", argv[3] = NULL;
	assert_transparent(argv, f->ring, NULL, &r);
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	{
		char *args[] = { (char *)bin_path("dise"), "runs", "--json", NULL };

		runs = dise_json(f, args);
	}
	assert_int_equal(json_array_size(runs), 1);
	run = json_array_get(runs, 0);
	if (!holds(json_object_get(run, "tool"), tool) || !holds(json_object_get(run, "execfn"), tool))
		fail_msg("the tool's name is not kept: %s", json_dumps(run, 0));
	a = json_object_get(run, "argv");
	assert_int_equal(json_array_size(a), 3);
	assert_true(holds(json_array_get(a, 0), tool));
	assert_true(holds(json_array_get(a, 1), arg));
	assert_string_equal(json_object_get(json_array_get(a, 1), "hex") ? json_string_value(json_object_get(json_array_get(a, 1), "hex")) : "", "636166e9");
	assert_true(json_is_string(json_array_get(a, 2)));
	json_decref(runs);
	/* stored: the argv the healer replays from */
	{
		sqlite3 *db;
		sqlite3_stmt *q;
		json_t *sa;

		assert_true(asprintf(&stored, "%s/dise.db", f->home) > 0);
		db = db_open(stored);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT argv FROM runs", -1, &q, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(q), SQLITE_ROW);
		sa = json_loads((const char *)sqlite3_column_text(q, 0), 0, &err);
		assert_non_null(sa);
		assert_true(holds(json_array_get(sa, 1), arg));
		json_decref(sa);
		sqlite3_finalize(q);
		sqlite3_close(db);
		free(stored);
	}
	/* and in text, escaped */
	dise(f, &r, "runs", NULL);
	assert_int_equal(exit_status(&r), 0);
	assert_non_null(strstr(r.out, "t\\xff\\xfe"));
	run_result_free(&r);
	unlink(tool);
	free(tool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_damaged_pages, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_header, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_collector_error_published, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_running_collector_cannot_store, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_terminal_escapes, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_non_utf8_text, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_readonly_shm_recovered, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_readonly_database_as_user, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
