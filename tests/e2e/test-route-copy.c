/* SPDX-License-Identifier: MIT */
/*
 * Routes, what runs and what is left behind (issue 16, items 4 and 6): a
 * routed script keeps its own name ($0, sys.argv[0]) and finds what lies
 * beside it; the copies beside originals go away with their route and
 * nothing else does; tools at long paths heal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
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

#include "beside.h"
#include "route-util.h"

struct interp {
	const char *name, *shebang, *v1, *v2;
};

/*
 * v1 prints its $0 and what it sourced from beside itself; v2 is broken.
 * Routed, the script's $0 is exactly the path run (not the copy's name,
 * not /proc/self/fd/N), and lib (beside $0) is found.
 */
static const struct interp interps[] = {
	{ "sh", "#!/bin/sh\n",
	  ". \"$(dirname \"$0\")/lib.sh\" || exit 9\nprintf 'v1 %s %s [%s]\\n' \"$0\" \"$LIBV\" \"$*\"\n",
	  "echo v2 broken; exit 3\n" },
	{ "bash", "#!/bin/bash\n",
	  "source \"$(dirname \"$0\")/lib.sh\" || exit 9\nprintf 'v1 %s %s [%s]\\n' \"$0\" \"$LIBV\" \"$*\"\n",
	  "echo v2 broken; exit 3\n" },
	{ "python3", "#!/usr/bin/python3\n",
	  "import os, sys\nexec(open(os.path.join(os.path.dirname(sys.argv[0]), 'lib.sh')).read().strip().replace('LIBV=', "
	  "'LIBV=\\'') + '\\'')\nprint('v1 %s %s [%s]' % (sys.argv[0], LIBV, ' '.join(sys.argv[1:])))\n"
	  "assert __file__ == sys.argv[0], __file__\n",
	  "import sys\nprint('v2 broken')\nsys.exit(3)\n" },
	{ "perl", "#!/usr/bin/perl\n",
	  "use File::Basename; our $LIBV; do(dirname($0) . '/lib.pl') or exit 9;\nprint \"v1 $0 $LIBV [@ARGV]\\n\";\n",
	  "print \"v2 broken\\n\"; exit 3;\n" },
};

static void test_routed_script_keeps_its_name(void **state)
{
	struct fixture *f = *state;
	size_t k;

	for (k = 0; k < sizeof(interps) / sizeof(interps[0]); k++) {
		const struct interp *in = &interps[k];
		const char *interp = in->shebang + 2;
		char *dir, *path, *text, *want, tool[32], ipath[64];
		char *argv[4];
		struct run_result r;

		snprintf(ipath, sizeof(ipath), "%.*s", (int)(strchr(interp, '\n') - interp), interp);
		if (access(ipath, X_OK) != 0)
			continue;
		snprintf(tool, sizeof(tool), "name-%s", in->name);
		assert_true(asprintf(&dir, "%s/%s/bin", f->dir, in->name) > 0);
		sh("mkdir -p '%s'", dir);
		assert_true(asprintf(&path, "%s/tool", dir) > 0);
		assert_true(asprintf(&text, "%s/lib.sh", dir) > 0);
		write_file(text, 0644, "LIBV=beside\n");
		free(text);
		assert_true(asprintf(&text, "%s/lib.pl", dir) > 0);
		write_file(text, 0644, "$LIBV = 'beside'; 1;\n");
		free(text);
		assert_true(asprintf(&text, "%s%s", in->shebang, in->v1) > 0);
		write_file(path, 0755, text);
		free(text);
		argv[0] = path, argv[1] = "a", argv[2] = "b", argv[3] = NULL;
		assert_true(asprintf(&text, "%s%s", in->shebang, in->v2) > 0);
		deploy_and_heal(f, tool, path, text, 0755, argv);
		free(text);

		watched(f, argv, &r);
		assert_true(asprintf(&want, "v1 %s beside [a b]\n", path) > 0);
		if (strcmp(r.out, want) != 0)
			print_error("%s: got  %swant %s(stderr %s)\n", in->name, r.out, want, r.err);
		assert_string_equal(r.out, want);
		assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
		run_result_free(&r);
		free(want);
		free(path);
		free(dir);
	}
	/* where $0 cannot be kept (env executes another interpreter), `dise health` says so before any heal */
	{
		char *path, *health[] = { (char *)bin_path("dise"), "health", NULL };
		struct run_result r;

		assert_true(asprintf(&path, "%s/envtool", f->dir) > 0);
		write_file(path, 0755, "#!/usr/bin/env python3\nprint(1)\n");
		tool_add(f, "envtool", "v1", path, NULL);
		dise_cmd(f, health, &r);
		if (!strstr(r.out, "if healed, $0 would not be the path run (its interpreter /usr/bin/env"))
			print_error("%s\n", r.out);
		assert_non_null(strstr(r.out, "if healed, $0 would not be the path run (its interpreter /usr/bin/env"));
		run_result_free(&r);
		free(path);
	}
}

/*
 * A tool is the path it was invoked at: a path longer than 256 bytes is a
 * tool like any other, healed and routed (the heal structs once held tool
 * names in 256 bytes: the healer looked up a truncated tool and found
 * nothing to route to).
 */
static void test_long_tool_path_heals(void **state)
{
	struct fixture *f = *state;
	char *dir, *path, *want, seg[101];
	char *argv[2];
	struct run_result r;

	memset(seg, 'd', 100);
	seg[100] = '\0';
	assert_true(asprintf(&dir, "%s/%s/%s/%s", f->dir, seg, seg, seg) > 0);
	sh("mkdir -p '%s'", dir);
	assert_true(asprintf(&path, "%s/longtool", dir) > 0);
	assert_true(strlen(path) > 300);
	write_file(path, 0755, "#!/bin/sh\necho v1 ok\n");
	argv[0] = path, argv[1] = NULL;
	deploy_and_heal(f, path, path, "#!/bin/sh\necho v2 broken; exit 3\n", 0755, argv);
	watched(f, argv, &r);
	if (strcmp(r.out, "v1 ok\n")) {
		char *j[] = { (char *)bin_path("dise"), "journal", NULL };
		char *h[] = { (char *)bin_path("dise"), "health", NULL };
		struct run_result jr;

		dise_cmd(f, j, &jr);
		print_error("journal: %s %s\n", jr.out, jr.err);
		run_result_free(&jr);
		dise_cmd(f, h, &jr);
		print_error("health: %s %s\n", jr.out, jr.err);
		run_result_free(&jr);
	}
	assert_string_equal(r.out, "v1 ok\n");
	run_result_free(&r);
	assert_true(asprintf(&want, "SELECT count(*) FROM routes WHERE tool = '%s'", path) > 0);
	assert_int_equal(db_count(f, want), 1);
	free(want);
	free(path);
	free(dir);
}

static void reset(struct fixture *f, const char *tool, const char *label, struct run_result *r)
{
	char *argv[] = { (char *)bin_path("dise"), "reset", (char *)tool, "--version", (char *)label, NULL };

	dise_cmd(f, argv, r);
	if (r->status != 0)
		print_error("reset: %s %s\n", r->out, r->err);
	assert_int_equal(r->status, 0);
}

/* The copies beside dir/name (glob .dise-*-name): how many. */
static int copies(const char *dir, const char *name)
{
	char *cmd, line[64] = "";
	FILE *p;

	assert_true(asprintf(&cmd, "ls -A '%s' | grep -c -- '^\\.dise-.*-%s$'", dir, name) > 0);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	pclose(p);
	free(cmd);
	return atoi(line);
}

/*
 * A dropped route takes its copy with it: `dise reset` of the pruned
 * version, then the collector, and the .dise-* copy beside the original is
 * gone. Only a copy provably dise's: one replaced by someone (other
 * content under the same name) stays, and so do other files.
 */
static void test_stale_copy_removed(void **state)
{
	struct fixture *f = *state;
	char *dir, *a, *b, *decoy;
	char *argv[2];
	struct run_result r;

	assert_true(asprintf(&dir, "%s/stale/bin", f->dir) > 0);
	sh("mkdir -p '%s'", dir);
	assert_true(asprintf(&a, "%s/ta", dir) > 0);
	assert_true(asprintf(&b, "%s/tb", dir) > 0);
	write_file(a, 0755, "#!/bin/sh\necho a1\n");
	write_file(b, 0755, "#!/bin/sh\necho b1\n");
	argv[0] = a, argv[1] = NULL;
	deploy_and_heal(f, "ta", a, "#!/bin/sh\nexit 3\n", 0755, argv);
	argv[0] = b;
	deploy_and_heal(f, "tb", b, "#!/bin/sh\nexit 4\n", 0755, argv);
	assert_int_equal(copies(dir, "ta"), 1);
	assert_int_equal(copies(dir, "tb"), 1);
	/* someone put their own file where tb's copy was: not dise's any more */
	sh("cd '%s' && f=$(ls -A | grep -- '-tb$') && rm -f \"$f\" && printf 'theirs\\n' > \"$f\" && chmod 555 \"$f\"", dir);
	assert_true(asprintf(&decoy, "%s/.dise-notours", dir) > 0);
	write_file(decoy, 0644, "x\n");

	reset(f, "ta", "v2", &r);
	run_result_free(&r);
	reset(f, "tb", "v2", &r);
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	assert_int_equal(copies(dir, "ta"), 0); /* dise's copy: gone with its route */
	assert_int_equal(copies(dir, "tb"), 1); /* not provably dise's: left alone */
	assert_int_equal(access(decoy, F_OK), 0);
	assert_int_equal(db_count(f, "SELECT count(*) FROM route_placements"), 0);
	/* the reset versions run at their paths again */
	argv[0] = a;
	watched(f, argv, &r);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 3);
	run_result_free(&r);
	free(decoy);
	free(a);
	free(b);
	free(dir);
}

/*
 * Where copies go: never into a system directory, never into a directory
 * not owned by the store's owner (there a root collector would put root's
 * file into someone else's directory); such a route runs the store's copy,
 * and `dise health` says so before any heal, with the reason.
 */
static void test_no_copy_in_system_or_foreign_dirs(void **state)
{
	struct fixture *f = *state;
	char why[4200], *dir, *path, *argv[2];
	struct run_result r;

	assert_int_equal(dise_beside_allowed("/usr/bin/true", geteuid(), why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "system directory"));
	assert_int_equal(dise_beside_allowed("/bin/true", geteuid(), why, sizeof(why)), -EPERM); /* after symlinks */
	assert_int_equal(dise_beside_allowed("/sbin/x", geteuid(), why, sizeof(why)), -EPERM);
	assert_int_equal(dise_beside_allowed("/etc/x", geteuid(), why, sizeof(why)), -EPERM);
	assert_int_equal(dise_beside_allowed("/proc/self/x", geteuid(), why, sizeof(why)), -EPERM);
	/* registered at a system path: said before any heal */
	tool_add(f, "systool", "v1", "/bin/sh", NULL);
	{
		char *health[] = { (char *)bin_path("dise"), "health", NULL };

		dise_cmd(f, health, &r);
		if (!strstr(r.out, "if healed, would run from the store (/usr/bin is a system directory"))
			print_error("%s\n", r.out);
		assert_non_null(strstr(r.out, "if healed, would run from the store (/usr/bin is a system directory"));
		run_result_free(&r);
	}
	if (geteuid() != 0)
		return; /* a directory of another owner needs root to make */
	assert_true(asprintf(&dir, "%s/nobodys/bin", f->dir) > 0);
	sh("mkdir -p '%s' && chown 65534 '%s'", dir, dir);
	assert_true(asprintf(&path, "%s/tool", dir) > 0);
	assert_int_equal(dise_beside_allowed(path, geteuid(), why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "not by the store's owner"));
	write_file(path, 0755, "#!/bin/sh\necho one \"$0\"\n");
	argv[0] = path, argv[1] = NULL;
	deploy_and_heal(f, "nob", path, "#!/bin/sh\nexit 3\n", 0755, argv);
	assert_int_equal(copies(dir, "tool"), 0); /* nothing placed in nobody's directory */
	watched(f, argv, &r);
	{
		char *want;

		assert_true(asprintf(&want, "one %s\n", path) > 0);
		assert_string_equal(r.out, want); /* routed from the store, under its own name */
		free(want);
	}
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM route_placements WHERE tool = 'nob' AND beside = 0 AND "
				     "note LIKE '%not by the store''s owner%'"),
			 1);
	free(path);
	free(dir);
}

/* The row of version label in `dise lineage tool --json` (decref the array: *arr). */
static json_t *lineage_row(struct fixture *f, const char *tool, const char *label, json_t **arr)
{
	char *argv[] = { (char *)bin_path("dise"), "lineage", (char *)tool, "--json", NULL };
	size_t i;

	*arr = dise_json(f, argv);
	for (i = 0; i < json_array_size(*arr); i++) {
		json_t *o = json_array_get(*arr, i);

		if (json_string_value(json_object_get(o, "label")) &&
		    !strcmp(json_string_value(json_object_get(o, "label")), label))
			return o;
	}
	fail_msg("no %s in the lineage of %s", label, tool);
	return NULL;
}

/*
 * What the views say about routes: a pruned version's runs that the shim
 * sent on to the routed copy are not its runs ("N runs, M redirected");
 * `<- route` says whose files the route runs, and which version is at the
 * path; `dise pruned` tells the ancestor a version was healed to from what
 * its files run now (the tool's route, moved by a later heal to a sibling).
 */
static void test_route_views(void **state)
{
	struct fixture *f = *state;
	char *dir, *path, *argv[2], *p3;
	struct run_result r;
	json_t *arr, *o;
	int i;
	int64_t v1, v3, own;

	assert_true(asprintf(&dir, "%s/views", f->dir) > 0);
	sh("mkdir -p '%s'", dir);
	assert_true(asprintf(&path, "%s/lin", dir) > 0);
	/* through env: routed by executing the copy, so the pruned version's run is an exec to it */
	write_file(path, 0755, "#!/usr/bin/env sh\necho one\n");
	argv[0] = path, argv[1] = NULL;
	deploy_and_heal(f, "lin", path, "#!/usr/bin/env sh\nexit 3\n", 0755, argv);
	o = lineage_row(f, "lin", "v2", &arr);
	own = json_integer_value(json_object_get(o, "runs"));
	assert_true(own >= 1);
	assert_int_equal(json_integer_value(json_object_get(o, "redirected")), 0);
	json_decref(arr);
	for (i = 0; i < 2; i++) {
		watched(f, argv, &r);
		assert_string_equal(r.out, "one\n");
		run_result_free(&r);
	}
	collect_once(f, &r);
	run_result_free(&r);
	o = lineage_row(f, "lin", "v2", &arr);
	assert_int_equal(json_integer_value(json_object_get(o, "runs")), own); /* its own runs only */
	assert_int_equal(json_integer_value(json_object_get(o, "redirected")), 2);
	json_decref(arr);
	o = lineage_row(f, "lin", "v1", &arr);
	assert_true(json_is_true(json_object_get(o, "route")));
	assert_string_equal(json_string_value(json_object_get(o, "route_for")), "v2");
	assert_null(json_object_get(o, "at_paths")); /* v2's file is at the path, routed */
	v1 = json_integer_value(json_object_get(o, "id"));
	json_decref(arr);

	/* a newer healthy version at the path: it is what runs there, and lineage says so */
	write_file(path, 0755, "#!/usr/bin/env sh\necho three\n");
	tool_add(f, "lin", "v3", path, "v1");
	watched(f, argv, &r);
	assert_string_equal(r.out, "three\n");
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	o = lineage_row(f, "lin", "v3", &arr);
	assert_string_equal(json_string_value(json_object_get(o, "at_paths")), path);
	v3 = json_integer_value(json_object_get(o, "id"));
	json_decref(arr);
	{
		char *lin[] = { (char *)bin_path("dise"), "lineage", "lin", NULL };

		dise_cmd(f, lin, &r);
		char want[64];

		snprintf(want, sizeof(want), "runs %lld, 2 redirected", (long long)own);
		assert_non_null(strstr(r.out, want));
		assert_non_null(strstr(r.out, "<- route: runs in place of v2"));
		assert_non_null(strstr(r.out, "<- at "));
		run_result_free(&r);
	}

	/* v4 below v3 fails: the tool's route moves to v3, a sibling of v2, which v2 was never healed to */
	assert_true(asprintf(&p3, "%s/lin4", dir) > 0);
	write_file(p3, 0755, "#!/usr/bin/env sh\nexit 4\n");
	tool_add(f, "lin", "v4", p3, "v3");
	heal(f, "lin", "v4");
	{
		char *pr[] = { (char *)bin_path("dise"), "pruned", "--json", NULL };
		size_t k;
		int seen = 0;

		arr = dise_json(f, pr);
		for (k = 0; k < json_array_size(arr); k++) {
			o = json_array_get(arr, k);
			if (strcmp(json_string_value(json_object_get(o, "label")), "v2"))
				continue;
			seen = 1;
			assert_int_equal(json_integer_value(json_object_get(o, "healed_to")), v1);
			assert_int_equal(json_integer_value(json_object_get(o, "runs_instead")), v3);
			assert_null(json_object_get(o, "routed_to"));
			assert_int_equal(json_integer_value(json_object_get(o, "redirected")), 2);
		}
		assert_true(seen);
		json_decref(arr);
	}
	free(p3);
	free(path);
	free(dir);
}

/*
 * `dise heal` and `dise reset` say what happens: a heal with no ancestor
 * prunes nothing (it said "pruned"); a reset with the collector stopped
 * says the route still applies only when one was in effect, and that the
 * tool's other pruned versions run again once the route is dropped.
 */
static void test_heal_and_reset_say_what_happens(void **state)
{
	struct fixture *f = *state;
	char *solo, *two, *two3, *argv[2];
	struct run_result r;

	assert_true(asprintf(&solo, "%s/solo", f->dir) > 0);
	write_file(solo, 0755, "#!/bin/sh\nexit 3\n");
	tool_add(f, "solo", "v1", solo, NULL);
	{
		char *h[] = { (char *)bin_path("dise"), "heal", "solo", NULL };

		dise_cmd(f, h, &r);
		assert_int_equal(r.status, 0);
		if (strncmp(r.out, "solo v1 ", 8) || !strstr(r.out, " not pruned: it is failing"))
			print_error("heal: %s\n", r.out);
		assert_int_equal(strncmp(r.out, "solo v1 ", 8), 0); /* its label, as dise lineage shows it */
		assert_non_null(strstr(r.out, " not pruned: it is failing"));
		run_result_free(&r);
	}
	reset(f, "solo", "v1", &r);
	assert_non_null(strstr(r.out, "no route of solo was in effect"));
	assert_null(strstr(r.out, "still applies"));
	run_result_free(&r);

	assert_true(asprintf(&two, "%s/two", f->dir) > 0);
	write_file(two, 0755, "#!/bin/sh\necho one\n");
	argv[0] = two, argv[1] = NULL;
	deploy_and_heal(f, "two", two, "#!/bin/sh\nexit 3\n", 0755, argv); /* v2 pruned, routed to v1 */
	/* v3, another child of v1 at another path of the tool, pruned too */
	assert_true(asprintf(&two3, "%s/two3", f->dir) > 0);
	write_file(two3, 0755, "#!/bin/sh\nexit 4\n");
	tool_add(f, "two", "v3", two3, "v1");
	heal(f, "two", "v3");
	collect_once(f, &r);
	run_result_free(&r);
	reset(f, "two", "v3", &r);
	if (!strstr(r.out, "the route of two stays for its other pruned version (v2)"))
		print_error("reset: %s\n", r.out);
	assert_non_null(strstr(r.out, "the route of two stays for its other pruned version (v2)"));
	assert_non_null(strstr(r.out, "once the collector runs and publishes"));
	run_result_free(&r);
	/* published: v2 (at two) is still routed to v1, v3 (at two3) runs as it is */
	collect_once(f, &r);
	run_result_free(&r);
	{
		struct dise_file_id v2, v3;
		char out[4096];

		file_id_of(two, &v2);
		file_id_of(two3, &v3);
		assert_true(routed(f, &v2, out, sizeof(out)));
		assert_false(routed(f, &v3, out, sizeof(out)));
	}
	/* the last pruned version reset: the route goes */
	reset(f, "two", "v2", &r);
	assert_null(strstr(r.out, "stays for"));
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	{
		struct dise_file_id v2;
		char out[4096];

		file_id_of(two, &v2);
		assert_false(routed(f, &v2, out, sizeof(out)));
	}
	free(two3);
	free(two);
	free(solo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_routed_script_keeps_its_name, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_long_tool_path_heals, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_stale_copy_removed, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_no_copy_in_system_or_foreign_dirs, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_route_views, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_heal_and_reset_say_what_happens, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
