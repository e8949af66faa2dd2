/* SPDX-License-Identifier: MIT */
/*
 * Runs of known contents get their version at ingest (collector/known.h):
 * only the version the resolver itself would give. A `dise tool add` of a
 * path whose content ingest knows makes the path's head another version:
 * the next run is that tool's, not the version ingest had for the path
 * (failed with ingest trusting its memory alone: the run kept the path's
 * old tool and version); a new content at a known path is a new version.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "harness.h"
#include "route-util.h"

static int64_t count(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t count(struct fixture *f, const char *fmt, ...)
{
	va_list ap;
	char *sql;
	int64_t n;

	va_start(ap, fmt);
	assert_true(vasprintf(&sql, fmt, ap) > 0);
	va_end(ap);
	n = db_try_count(f, sql);
	free(sql);
	return n;
}

/* Runs path under the shim, then waits until n runs of it have their version. */
static void run_versioned(struct fixture *f, const char *path, int64_t n)
{
	char *argv[] = { (char *)path, "0", NULL };
	struct run_result r;

	watched(f, argv, &r);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	run_result_free(&r);
	if (!wait_for(count(f, "SELECT count(*) FROM runs WHERE path = '%s' AND version_id > 0", path) == n, WAIT_MS)) {
		db_print(f, "SELECT id, path, tool, version_id, outcome FROM runs");
		fail_msg("run %lld of %s got no version", (long long)n, path);
	}
}

static char *app_at(struct fixture *f)
{
	char *app;

	assert_true(asprintf(&app, "%s/bin/app", f->dir) > 0);
	sh("mkdir -p '%s/bin' && cp '%s' '%s'", f->dir, prog_path("exitcode"), app);
	return app;
}

static void test_tool_add_of_a_known_path(void **state)
{
	struct fixture *f = *state;
	char *app = app_at(f);
	int64_t old;

	collector_start(f, "--foreground", NULL, NULL);
	run_versioned(f, app, 1); /* the resolver's: now known to ingest */
	run_versioned(f, app, 2);
	old = count(f, "SELECT max(version_id) FROM runs WHERE path = '%s'", app);
	assert_int_equal(count(f, "SELECT count(DISTINCT version_id) FROM runs WHERE path = '%s'", app), 1);
	/* the same content, registered as a tool of its own while the collector runs */
	tool_add(f, "app", "v1", app, NULL);
	run_versioned(f, app, 3);
	assert_int_equal(count(f, "SELECT count(*) FROM runs r JOIN versions v ON v.id = r.version_id WHERE r.path = '%s' "
				  "AND r.tool = 'app' AND v.tool = 'app' AND r.version_id != %lld",
			       app, (long long)old),
			 1);
	/* and the runs after it too (known to ingest again, as the tool's) */
	run_versioned(f, app, 4);
	assert_int_equal(count(f, "SELECT count(*) FROM runs WHERE path = '%s' AND tool = 'app'", app), 2);
	collector_stop(f);
	free(app);
}

static void test_new_content_at_a_known_path(void **state)
{
	struct fixture *f = *state;
	char *app = app_at(f);

	collector_start(f, "--foreground", NULL, NULL);
	run_versioned(f, app, 1);
	run_versioned(f, app, 2);
	/* a deploy: another content (a byte more, the same program), a new inode at the path */
	sh("cp '%s' '%s.tmp' && printf x >> '%s.tmp' && mv '%s.tmp' '%s'", app, app, app, app, app);
	run_versioned(f, app, 3);
	assert_int_equal(count(f, "SELECT count(DISTINCT version_id) FROM runs WHERE path = '%s'", app), 2);
	assert_int_equal(count(f, "SELECT count(*) FROM versions v JOIN version_parents p ON p.version_id = v.id "
				  "WHERE v.tool = '%s'", app),
			 1); /* its lineage: the resolver made it */
	collector_stop(f);
	free(app);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tool_add_of_a_known_path, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_new_content_at_a_known_path, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
