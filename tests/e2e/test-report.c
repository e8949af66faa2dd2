/* SPDX-License-Identifier: MIT */
/*
 * `dise report --html` (issue 13: 5) after a real heal: a tool whose path
 * holds `<script>alert(1)</script>`, a quote, an apostrophe and an
 * ampersand runs a release that works, then one that crashes three times
 * (pruned, routed to its parent). The page holds the heal (a pruned
 * version, the route, the crash, the journal's prune and route), every
 * string escaped (no `<script` anywhere), the lineage drawn as SVG when
 * Graphviz's dot is installed (its labels escaped again by dot), else the
 * text tree. Then the real headless Chromium (Debian chromium) renders it:
 * a PNG screenshot of some size, the DOM with the lineage <svg>, and no
 * console error. Without dot on PATH: the text tree, escaped. DISE_REPORT_PNG=PATH
 * keeps the screenshot (docs/report.png).
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "harness.h"

#define CHROMIUM "/usr/bin/chromium"
#define DOT "/usr/bin/dot"
/* The tool's directory and name: "<script>alert(1)</script>" split by its slash, with ", ' and &. */
#define HOSTILE_DIR "x\"'&<script>alert(1)<"
#define HOSTILE_NAME "script>"
#define HOSTILE_HTML "x&quot;&#39;&amp;&lt;script&gt;alert(1)&lt;/script&gt;"

/* from copied to to (mode 0755), through to.tmp renamed over it as a package upgrade does */
static void copy_file(const char *from, const char *to)
{
	char *tmp, buf[65536];
	FILE *in = fopen(from, "rb"), *out;
	size_t n;

	assert_true(asprintf(&tmp, "%s.tmp", to) > 0);
	out = fopen(tmp, "wb");
	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(chmod(tmp, 0755), 0);
	assert_int_equal(rename(tmp, to), 0);
	free(tmp);
}

static void deploy(const char *prog, const char *path)
{
	copy_file(prog_path(prog), path);
}

static int run_watched(struct fixture *f, const char *path, const char *arg, int n)
{
	char *pre, *argv[] = { (char *)path, (char *)arg, NULL };
	const char *env[] = { NULL, f->env_ring, NULL };
	struct run_result r;
	int i, st = -1;

	assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
	env[0] = pre;
	for (i = 0; i < n; i++) {
		assert_int_equal(run_cmd(argv, env, NULL, &r), 0);
		st = r.status;
		run_result_free(&r);
	}
	free(pre);
	return st;
}

static void collect(struct fixture *f)
{
	struct run_result r;

	collect_once(f, &r);
	run_result_free(&r);
}

/* The heal: v1 runs ok three times, v2 crashes three times where v1 did not: pruned, routed to v1. */
static char *heal(struct fixture *f)
{
	char *dir, *t;

	assert_true(asprintf(&dir, "%s/" HOSTILE_DIR, f->dir) > 0);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_true(asprintf(&t, "%s/" HOSTILE_NAME, dir) > 0);
	free(dir);
	deploy("blamer-v1", t);
	assert_int_equal(run_watched(f, t, "newcrash", 3), 0);
	collect(f);
	deploy("blamer-v2", t);
	assert_true(WIFSIGNALED(run_watched(f, t, "newcrash", 3)));
	collect(f);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE health = 'pruned'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM routes"), 1);
	return t;
}

static char *write_report(struct fixture *f)
{
	char *out, *argv[] = { (char *)bin_path("dise"), "report", "--html", NULL, NULL }, *page;
	struct run_result r;

	assert_true(asprintf(&out, "%s/report.html", f->dir) > 0);
	argv[3] = out;
	dise_cmd(f, argv, &r);
	if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
		fail_msg("dise report: status %d, stderr '%s'", r.status, r.err);
	run_result_free(&r);
	page = slurp(out);
	assert_non_null(page);
	free(out);
	return page;
}

/* The page tells the heal, with every string from the store escaped. */
static void assert_page(const char *page)
{
	const char *svg = strstr(page, "<svg");

	assert_non_null(strstr(page, "<!DOCTYPE html>"));
	assert_null(strcasestr(page, "<script")); /* the tool's name never became markup */
	assert_null(strstr(page, "src=\"")); /* nothing fetched: no image, frame or script source */
	assert_null(strstr(page, "href=\""));
	assert_non_null(strstr(page, "<h3>"));
	if (!strstr(page, "<h3>" HOSTILE_HTML) && !strstr(page, HOSTILE_HTML "</h3>"))
		fail_msg("the tool's heading is not escaped as '" HOSTILE_HTML "'");
	assert_non_null(strstr(page, "class=\"chip pruned\">pruned: 1<"));
	assert_non_null(strstr(page, "<h3>Routes in effect</h3>\n<table>"));
	assert_non_null(strstr(page, "<h2 id=\"crashes\">Crashes</h2>\n<h3><code>"));
	assert_non_null(strstr(page, "<b>prune</b> <span class=\"ok\">ok</span>"));
	assert_non_null(strstr(page, "<b>route</b> <span class=\"ok\">ok</span>"));
	if (access(DOT, X_OK) == 0) {
		assert_non_null(svg);
		/* dot's own escaping of the DOT-escaped label: the name as text of its SVG */
		assert_non_null(strstr(svg, "&lt;script&gt;alert(1)&lt;/script&gt;"));
		assert_non_null(strstr(svg, "pruned"));
	} else {
		print_message("%s is not installed: the lineage as text\n", DOT);
		assert_null(svg);
		assert_non_null(strstr(page, "<div class=\"lineage\"><pre>"));
	}
}

/* Chromium's headless run of file with what (--screenshot=..., --dump-dom): its result (free it). */
static void chromium(struct fixture *f, const char *file, const char *what, struct run_result *r)
{
	char *ud, *url;
	char *argv[] = { CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", NULL, "--window-size=1200,1600",
			 "--enable-logging=stderr", "--v=0", (char *)what, NULL, NULL };

	assert_true(asprintf(&ud, "--user-data-dir=%s/chromium", f->dir) > 0);
	assert_true(asprintf(&url, "file://%s", file) > 0);
	argv[4] = ud;
	argv[9] = url;
	assert_int_equal(run_cmd(argv, NULL, NULL, r), 0);
	if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0)
		fail_msg("chromium %s: status %d, stderr '%s'", what, r->status, r->err);
	if (strstr(r->err, "Uncaught") || strstr(r->err, "ERROR:CONSOLE") || strstr(r->err, ":CONSOLE("))
		fail_msg("chromium %s: console errors: '%s'", what, r->err);
	free(url);
	free(ud);
}

static void test_report_after_heal(void **state)
{
	struct fixture *f = *state;
	char *t = heal(f), *page = write_report(f), *html, *png, *shot, *arg;
	const char *keep = getenv("DISE_REPORT_PNG");
	struct run_result r;
	struct stat s;

	assert_page(page);
	if (access(CHROMIUM, X_OK) != 0) {
		print_message("SKIP: %s is not installed (scripts/deps.sh installs chromium)\n", CHROMIUM);
		free(page);
		free(t);
		skip();
	}
	/* a copy at a path with nothing to escape in a URL */
	assert_true(asprintf(&html, "%s/report.html", f->dir) > 0);
	assert_true(asprintf(&png, "%s/report.png", f->dir) > 0);
	assert_true(asprintf(&arg, "--screenshot=%s", png) > 0);
	chromium(f, html, arg, &r);
	run_result_free(&r);
	assert_int_equal(stat(png, &s), 0);
	assert_true(s.st_size > 20000); /* the page drawn, not a blank one */
	shot = slurp(png);
	assert_non_null(shot);
	assert_memory_equal(shot, "\x89PNG\r\n\x1a\n", 8);
	free(shot);
	if (keep)
		copy_file(png, keep);

	chromium(f, html, "--dump-dom", &r);
	assert_null(strcasestr(r.out, "<script"));
	/* the name as text (a DOM serialises a text node's quotes as they are) */
	assert_non_null(strstr(r.out, "x\"'&amp;&lt;script&gt;alert(1)&lt;/script&gt;"));
	if (access(DOT, X_OK) == 0 && !strstr(r.out, "<svg"))
		fail_msg("no lineage <svg> in the DOM chromium built");
	run_result_free(&r);
	free(arg);
	free(png);
	free(html);
	free(page);
	free(t);
}

/* Without Graphviz (no dot on PATH): the lineage as the text tree, escaped, and no <svg>; a running canary shown. */
static void test_report_without_dot(void **state)
{
	struct fixture *f = *state;
	char *t = heal(f), *path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin"), *page;

	char *db, sql[256];
	sqlite3 *h;

	/* a canary rollout of the tool running (v1 stable, v2 canary at 10%): its section appears */
	assert_true(asprintf(&db, "%s/dise.db", f->home) > 0);
	h = db_open(db);
	snprintf(sql, sizeof(sql), "INSERT INTO canaries(tool, stable_id, canary_id, weight, started_wall_ns, step_wall_ns) "
				   "SELECT tool, 1, 2, 10, 1, 1 FROM versions WHERE id = 1");
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	free(db);
	assert_int_equal(setenv("PATH", f->dir, 1), 0);
	page = write_report(f);
	assert_int_equal(setenv("PATH", path, 1), 0);
	assert_null(strstr(page, "<svg"));
	assert_null(strcasestr(page, "<script"));
	assert_non_null(strstr(page, "<div class=\"lineage\"><pre>v1  id 1  healthy  runs 3, failures 0   &lt;- route\n"
				     "v2  id 2  pruned  runs 3, failures 3, parents v1\n</pre>"));
	assert_non_null(strstr(page, "Graphviz's dot is not installed"));
	assert_non_null(strstr(page, "<h2 id=\"canaries\">Canary rollouts</h2>"));
	assert_non_null(strstr(page, "<td>v1</td><td>v2</td><td>running</td><td>1</td><td>10</td>"));
	assert_null(strstr(page, "id=\"proposals\"")); /* no regeneration attempt: no section */
	free(page);
	free(path);
	free(t);
}

/* No --html: a usage error (exit 2), and no store: one line, exit 1. */
static void test_report_usage(void **state)
{
	struct fixture *f = *state;
	char *no_opt[] = { (char *)bin_path("dise"), "report", NULL };
	char *no_store[] = { (char *)bin_path("dise"), "report", "--html", "/nonexistent-dir/r.html", NULL };
	struct run_result r;

	dise_cmd(f, no_opt, &r);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2);
	assert_non_null(strstr(r.err, "--html FILE is required"));
	run_result_free(&r);
	dise_cmd(f, no_store, &r);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
	run_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_report_after_heal, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_report_without_dot, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_report_usage, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
