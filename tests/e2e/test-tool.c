/* SPDX-License-Identifier: MIT */
/*
 * A tool is a lineage, not a name (issue 16, items 1 and 3): two products
 * with one file name at two paths are two tools, each healed to its own
 * ancestor; a group of release directories is one tool; labels count per
 * tool; `dise tools` lists them; an interpreted program is its script, never
 * the interpreter; a basename-keyed database migrates.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <sqlite3.h>
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
#include "store.h"

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;

	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static int64_t count(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t count(struct fixture *f, const char *fmt, ...)
{
	va_list ap;
	char *sql;
	int64_t n;

	va_start(ap, fmt);
	assert_true(vasprintf(&sql, fmt, ap) > 0);
	va_end(ap);
	n = db_count(f, sql);
	free(sql);
	return n;
}

/* prog's file at dir/rel (directories made), replaced as a deploy does (a new inode) */
static char *deploy(struct fixture *f, const char *rel, const char *prog)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", f->dir, rel) > 0);
	sh("mkdir -p \"$(dirname '%s')\" && cp '%s' '%s.tmp' && mv '%s.tmp' '%s'", p, prog, p, p, p);
	return p;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
}

static void write_config(struct fixture *f, const char *json)
{
	char *path;

	mkdir(f->home, 0700);
	assert_true(asprintf(&path, "%s/dise.json", f->home) > 0);
	write_file(path, json, 0600);
	free(path);
}

/* argv run under the shim with f's ring; its result in r */
static void watched(struct fixture *f, char *const argv[], const char *cwd, struct run_result *r)
{
	char *pre, *ring;
	const char *env[3];

	assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
	assert_true(asprintf(&ring, "DISE_RING=%s", f->ring) > 0);
	env[0] = pre, env[1] = ring, env[2] = NULL;
	assert_int_equal(run_cmd(argv, env, cwd, r), 0);
	free(pre);
	free(ring);
}

static void watched_n(struct fixture *f, char *const argv[], const char *cwd, int n)
{
	struct run_result r;

	while (n-- > 0) {
		watched(f, argv, cwd, &r);
		run_result_free(&r);
	}
}

static void collect(struct fixture *f)
{
	struct run_result r;

	collect_once(f, &r);
	run_result_free(&r);
}

/*
 * Observation 1: /x/alpha/bin/server and /x/beta/bin/server, two products,
 * each deploying the same broken build: two tools, each pruned and routed
 * to its own v1; alpha's path never runs beta's binary. Failed before (one
 * tool "server": alpha ran beta's v1, or the reverse); passes now.
 */
static void test_two_products_one_name(void **state)
{
	struct fixture *f = *state;
	char *alpha = deploy(f, "alpha/bin/server", prog_path("exitcode"));
	char *beta = deploy(f, "beta/bin/server", prog_path("threads"));
	char *a_argv[] = { alpha, "segv", NULL }, *b_argv[] = { beta, "segv", NULL };
	struct run_result r;
	json_t *j;

	watched_n(f, a_argv, NULL, 1);
	watched_n(f, b_argv, NULL, 1);
	collect(f);
	free(deploy(f, "alpha/bin/server", prog_path("crasher")));
	free(deploy(f, "beta/bin/server", prog_path("crasher")));
	watched_n(f, a_argv, NULL, 3);
	watched_n(f, b_argv, NULL, 3);
	collect(f);

	/* two lineages, labelled per tool, each v2 pruned and routed to its own v1 */
	assert_int_equal(count(f, "SELECT count(DISTINCT tool) FROM versions"), 2);
	assert_int_equal(count(f, "SELECT count(*) FROM versions WHERE tool = '%s' AND label IN ('v1', 'v2')", alpha), 2);
	assert_int_equal(count(f, "SELECT count(*) FROM versions WHERE tool = '%s' AND label IN ('v1', 'v2')", beta), 2);
	assert_int_equal(count(f, "SELECT count(*) FROM versions WHERE tool = '%s' AND label = 'v2' AND health = 'pruned'",
			       alpha),
			 1);
	assert_int_equal(count(f, "SELECT count(*) FROM versions WHERE tool = '%s' AND label = 'v2' AND health = 'pruned'",
			       beta),
			 1);
	assert_int_equal(count(f, "SELECT count(*) FROM routes r JOIN versions v ON v.id = r.version_id "
				  "WHERE r.tool = '%s' AND v.tool = '%s' AND v.label = 'v1'", alpha, alpha),
			 1);
	assert_int_equal(count(f, "SELECT count(*) FROM routes r JOIN versions v ON v.id = r.version_id "
				  "WHERE r.tool = '%s' AND v.tool = '%s' AND v.label = 'v1'", beta, beta),
			 1);
	/* each path runs its own product's v1 */
	watched(f, a_argv, NULL, &r);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	assert_string_equal(r.out, "exiting with 0 via main\n");
	run_result_free(&r);
	watched(f, b_argv, NULL, &r);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	assert_true(!strncmp(r.out, "total ", 6)); /* threads, beta's v1 */
	run_result_free(&r);
	collect(f);
	/* the routed runs are runs of their own tool's v1 */
	assert_int_equal(count(f, "SELECT count(*) FROM runs r JOIN versions v ON v.id = r.version_id WHERE r.tool = '%s' "
				  "AND v.tool = '%s' AND v.label = 'v1' AND r.outcome = 'ok' "
				  "AND (r.path LIKE '%%/.dise-%%' OR r.path LIKE '%%/cas/run/%%')",
			       alpha, alpha),
			 1);

	/* the file name is both: a one-line error naming them; the path is one */
	{
		char *runs[] = { (char *)bin_path("dise"), "runs", "--tool", "server", NULL };
		char *lin[] = { (char *)bin_path("dise"), "lineage", alpha, "--json", NULL };

		dise_cmd(f, runs, &r);
		assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
		assert_non_null(strstr(r.err, "names several tools"));
		assert_non_null(strstr(r.err, alpha));
		assert_non_null(strstr(r.err, beta));
		assert_true(strchr(r.err, '\n') == r.err + strlen(r.err) - 1); /* one line */
		run_result_free(&r);
		j = dise_json(f, lin);
		assert_int_equal(json_array_size(j), 2);
		assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "label")), "v1");
		assert_string_equal(json_string_value(json_object_get(json_array_get(j, 1), "label")), "v2");
		json_decref(j);
		/* the text: by label, the parent by its label too */
		lin[3] = NULL;
		dise_cmd(f, lin, &r);
		assert_int_equal(r.status, 0);
		assert_true(!strncmp(r.out, "v1 ", 3));
		assert_non_null(strstr(r.out, "\nv2 "));
		assert_non_null(strstr(r.out, "parents v1"));
		run_result_free(&r);
	}
	free(alpha);
	free(beta);
}

/*
 * A release-directory layout grouped in dise.json is one tool: the new
 * release's first version follows the previous release's, and its crashes
 * route it back there. `dise tools` shows the group, its paths, health and
 * route, in text and JSON; a file name of the group's paths names it.
 */
static void test_grouped_releases(void **state)
{
	struct fixture *f = *state;
	char *cfg, *r1, *r2;
	struct run_result r;
	json_t *j, *t;

	assert_true(asprintf(&cfg, "{\"tools\": {\"app\": {\"paths\": [\"%s/releases/*/bin/app\"]}}}", f->dir) > 0);
	write_config(f, cfg);
	free(cfg);
	r1 = deploy(f, "releases/1.0/bin/app", prog_path("exitcode"));
	{
		char *argv[] = { r1, "segv", NULL };

		watched_n(f, argv, NULL, 1);
	}
	collect(f);
	r2 = deploy(f, "releases/1.1/bin/app", prog_path("crasher"));
	{
		char *argv[] = { r2, "segv", NULL };

		watched_n(f, argv, NULL, 3);
		collect(f);
		assert_int_equal(count(f, "SELECT count(*) FROM versions WHERE tool = 'app'"), 2);
		assert_int_equal(count(f, "SELECT count(*) FROM version_parents p JOIN versions a ON a.id = p.version_id "
					  "JOIN versions b ON b.id = p.parent_id WHERE a.label = 'v2' AND b.label = 'v1' "
					  "AND a.tool = 'app' AND b.tool = 'app'"),
				 1);
		assert_int_equal(count(f, "SELECT count(*) FROM versions WHERE tool = 'app' AND label = 'v2' AND health = 'pruned'"),
				 1);
		assert_int_equal(count(f, "SELECT count(DISTINCT tool) FROM runs WHERE tool IS NOT NULL"), 1);
		/* the new release's path runs the previous release */
		watched(f, argv, NULL, &r);
		assert_string_equal(r.out, "exiting with 0 via main\n");
		run_result_free(&r);
	}
	{
		char *tj[] = { (char *)bin_path("dise"), "tools", "--json", NULL };
		char *tt[] = { (char *)bin_path("dise"), "tools", NULL };
		char *runs[] = { (char *)bin_path("dise"), "runs", "--tool", "app", "--json", NULL };

		j = dise_json(f, tj);
		assert_int_equal(json_array_size(j), 1);
		t = json_array_get(j, 0);
		assert_string_equal(json_string_value(json_object_get(t, "tool")), "app");
		assert_int_equal(json_integer_value(json_object_get(t, "versions")), 2);
		assert_int_equal(json_array_size(json_object_get(t, "paths")), 2);
		assert_string_equal(json_string_value(json_object_get(t, "health")), "1 healthy, 1 pruned");
		assert_string_equal(json_string_value(json_object_get(t, "route")), "v1");
		json_decref(j);
		dise_cmd(f, tt, &r);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, "app\n  versions 2 (1 healthy, 1 pruned), runs v1\n  paths "));
		assert_non_null(strstr(r.out, r1));
		assert_non_null(strstr(r.out, r2));
		run_result_free(&r);
		j = dise_json(f, runs);
		assert_true(json_array_size(j) >= 4);
		json_decref(j);
	}
	free(r1);
	free(r2);
}

/* A healthy v1 of a script, then a v2 that crashes three times, each run by argv (relative to dir). */
static void script_story(struct fixture *f, const char *name, const char *ok, const char *bad, char *const argv[])
{
	char *path;

	assert_true(asprintf(&path, "%s/%s", f->dir, name) > 0);
	write_file(path, ok, 0755);
	watched_n(f, argv, f->dir, 1);
	collect(f);
	unlink(path);
	write_file(path, bad, 0755);
	watched_n(f, argv, f->dir, 3);
	collect(f);
	/* the script's v2 is pruned, v1 kept healthy */
	assert_int_equal(count(f, "SELECT count(*) FROM versions WHERE tool = '%s' AND label = 'v2' AND health = 'pruned'",
			       path),
			 1);
	assert_int_equal(count(f, "SELECT count(*) FROM versions WHERE tool = '%s' AND label = 'v1' AND health = 'healthy'",
			       path),
			 1);
	free(path);
}

/*
 * Observation 9: a `#!/usr/bin/env python3` script, `sh script`,
 * `python3 script.py`, each crashing three times: the script's version is
 * pruned, never python3 or sh (no failure, no heal request against them).
 * `python3 -c` has no script: python3 stays its tool. Failed before (the
 * strikes went to python3 and sh); passes now.
 */
static void test_interpreted_tools_are_scripts(void **state)
{
	struct fixture *f = *state;
	char *env_script[] = { "./envpy", NULL };
	char *sh_script[] = { "/bin/sh", "job.sh", NULL };
	char *py_script[] = { "/usr/bin/python3", "-u", "job.py", "x", NULL };
	char *py_c[] = { "/usr/bin/python3", "-c", "print('inline')", NULL };

	if (access("/usr/bin/python3", X_OK) != 0)
		skip();
	script_story(f, "envpy", "#!/usr/bin/env python3\nprint('ok')\n", "#!/usr/bin/env python3\nimport os\nos.abort()\n",
		     env_script);
	script_story(f, "job.sh", "echo ok\n", "echo bad\nkill -SEGV $$\n", sh_script);
	script_story(f, "job.py", "print('ok')\n", "import os\nos.abort()\n", py_script);
	watched_n(f, py_c, f->dir, 1);
	{
		/* an executable handed to an interpreter is no script of it: the interpreter's failure */
		char *elf = deploy(f, "bin/prog", prog_path("exitcode"));
		char *py_elf[] = { "/usr/bin/python3", elf, NULL };

		watched_n(f, py_elf, f->dir, 1);
		collect(f);
		assert_int_equal(count(f, "SELECT count(*) FROM runs WHERE tool = '%s'", elf), 0);
		assert_int_equal(count(f, "SELECT count(*) FROM runs WHERE argv LIKE '%%/bin/prog%%' AND tool LIKE '%%/python3%%' "
					  "AND outcome = 'fail'"),
				 1);
		free(elf);
	}

	/* the interpreters: never blamed, never pruned */
	assert_int_equal(count(f, "SELECT count(*) FROM failures x JOIN versions v ON v.id = x.version_id "
				  "WHERE v.tool LIKE '%%/python3%%' OR v.tool LIKE '%%/sh' OR v.tool LIKE '%%/dash' "
				  "OR v.tool LIKE '%%/bash'"),
			 0);
	assert_int_equal(count(f, "SELECT count(*) FROM versions WHERE health != 'healthy' AND (tool LIKE '%%/python3%%' "
				  "OR tool LIKE '%%/sh' OR tool LIKE '%%/dash')"),
			 0);
	/* the crashes are the scripts' runs */
	assert_int_equal(count(f, "SELECT count(*) FROM runs WHERE outcome = 'crash' AND tool = '%s/job.py'", f->dir), 3);
	assert_int_equal(count(f, "SELECT count(*) FROM runs WHERE outcome = 'crash' AND tool = '%s/envpy'", f->dir), 3);
	assert_int_equal(count(f, "SELECT count(*) FROM runs WHERE outcome = 'crash' AND tool = '%s/job.sh'", f->dir), 3);
	/* python3 -c: the interpreter is the tool */
	assert_int_equal(count(f, "SELECT count(*) FROM runs r JOIN versions v ON v.id = r.version_id "
				  "WHERE r.argv LIKE '%%inline%%' AND r.tool LIKE '%%/python3%%' AND v.tool = r.tool"),
			 1);
}

/*
 * Schema v10: a database of v8 (tools by basename, labels empty) is migrated:
 * each version's tool is the path it ran at, runs, routes and rules
 * follow, labels count per tool.
 */
static void test_migration(void **state)
{
	struct fixture *f = *state;
	char *db;
	sqlite3 *h;
	dise_store *st;

	mkdir(f->home, 0700);
	assert_true(asprintf(&db, "%s/dise.db", f->home) > 0);
	assert_int_equal(dise_store_create_old(db, 8), 0);
	h = db_open(db);
	assert_int_equal(sqlite3_exec(h,
				      "INSERT INTO versions(id, tool, sha256, path) VALUES (7, 'server', 'aa', '/opt/alpha/bin/server'),"
				      " (8, 'server', 'bb', '/opt/beta/bin/server'), (9, 'server', 'cc', '/opt/alpha/bin/server');"
				      "INSERT INTO runs(epoch, pid, start_ns, execfn, cwd, tool, version_id) VALUES"
				      " (1, 1, 1, './server', '/opt/alpha/bin', 'server', 7),"
				      " (1, 2, 2, '/opt/beta/bin/../bin/server', '/', 'server', 8),"
				      " (1, 3, 3, '/opt/alpha/bin/server', '/', 'server', 9);"
				      "INSERT INTO routes(tool, version_id, updated_wall_ns) VALUES ('server', 7, 1);"
				      "INSERT INTO rules(tool, source_version, description, created_wall_ns) VALUES ('server', 9, 'd', 1);",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(dise_store_open(db, 0, &st), 0);
	dise_store_free(st);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = '/opt/alpha/bin/server' AND "
				     "((id = 7 AND label = 'v1') OR (id = 9 AND label = 'v2'))"),
			 2);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE id = 8 AND tool = '/opt/beta/bin/server' AND label = 'v1'"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM runs WHERE pid = 2 AND tool = '/opt/beta/bin/server' "
				     "AND path = '/opt/beta/bin/server'"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM routes WHERE tool = '/opt/alpha/bin/server'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM rules WHERE tool = '/opt/alpha/bin/server'"), 1);
	free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_products_one_name, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_grouped_releases, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_interpreted_tools_are_scripts, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_migration, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
