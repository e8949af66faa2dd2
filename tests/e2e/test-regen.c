/* SPDX-License-Identifier: MIT */
/*
 * Healing forward (issue 14): a #! script whose v2 adds two features and
 * one crash is pruned and routed back to v1 by hand (`dise heal`); the
 * healer's revert-hunks strategy then finds, by ddmin in the bubblewrap
 * sandbox, the one hunk to revert, and the regenerated v3 keeps both
 * features, passes the replay of the rule, and is routed (mode auto) or
 * proposed (suggest: approved or refused through the CLI). The ratchet
 * rejects a slower candidate, locks after three rejections, and the lock
 * ends. A candidate's writes outside its scratch tree never land.
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
#include <sqlite3.h>

#include "harness.h"
#include "route-util.h"
#include "config.h"
#include "sandbox.h"

/* v2: a feature (shout), a crash in greet, a new version string, a second feature (count) */
static const char v2_text[] = "#!/bin/sh\n"
			      "# a tool\n"
			      "case \"$1\" in\n"
			      "shout)\n"
			      "\techo \"HELLO $2\"\n"
			      "\t;;\n"
			      "greet)\n"
			      "\techo \"hello $2\"\n"
			      "\tkill -SEGV $$\n"
			      "\t;;\n"
			      "version)\n"
			      "\techo 2\n"
			      "\t;;\n"
			      "count)\n"
			      "\tshift; echo \"$#\"\n"
			      "\t;;\n"
			      "esac\n"
			      "exit 0\n";

static void write_config(struct fixture *f, const char *json)
{
	char *path;
	FILE *fp;

	mkdir(f->home, 0700);
	assert_true(asprintf(&path, "%s/dise.json", f->home) > 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(json, fp);
	fclose(fp);
	free(path);
}

/* dise.json for tool with test_command and "regenerate": {regen} */
static void config_for(struct fixture *f, const char *tool, const char *regen)
{
	char *json;

	assert_true(asprintf(&json,
			     "{\"tools\": {\"%s\": {\"test_command\": \"$DISE_CANDIDATE version > /dev/null\", "
			     "\"test_timeout_seconds\": 20, \"regenerate\": %s}}}",
			     tool, regen) > 0);
	write_config(f, json);
	free(json);
}

/* v1 at dir/NAME, v2 over it, `NAME greet bob` crashes under the shim, healed by hand: *path (to free). */
static void story(struct fixture *f, const char *tool, const char *v2, char **path)
{
	char *argv[] = { NULL, "greet", "bob", NULL };

	assert_true(asprintf(path, "%s/%s", f->dir, tool) > 0);
	write_file(*path, 0755, regen_v1_text);
	argv[0] = *path;
	deploy_and_heal(f, tool, *path, v2, 0755, argv);
}

/* Runs path args under the shim (routed or not): its stdout (to free); its exit status into *status. */
static char *run_tool(struct fixture *f, const char *path, const char *a1, const char *a2, const char *a3, int *status)
{
	char *argv[] = { (char *)path, (char *)a1, (char *)a2, (char *)a3, NULL };
	struct run_result r;
	char *out;

	watched(f, argv, &r);
	out = strdup(r.out);
	*status = r.status;
	run_result_free(&r);
	return out;
}

static void assert_out(struct fixture *f, const char *path, const char *a1, const char *a2, const char *a3,
		       const char *want)
{
	int st;
	char *out = run_tool(f, path, a1, a2, a3, &st);

	if (strcmp(out, want) || !WIFEXITED(st) || WEXITSTATUS(st))
		print_error("%s %s: got '%s' (status 0x%x), want '%s'\n", path, a1, out, st, want);
	assert_string_equal(out, want);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	free(out);
}

static int64_t routed_label_is(struct fixture *f, const char *tool, const char *label)
{
	char *sql;
	int64_t n;

	assert_true(asprintf(&sql, "SELECT count(*) FROM routes rt JOIN versions v ON v.id = rt.version_id "
				   "WHERE rt.tool = '%s' AND v.label = '%s'",
			     tool, label) > 0);
	n = db_count(f, sql);
	free(sql);
	return n;
}

/* mode auto: v3 regenerated, routed; it keeps shout and count and the new version string, greet no longer crashes. */
static void test_revert_hunks_auto(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *path;

	need_sandbox();
	config_for(f, "rg", "{\"strategy\": \"revert-hunks\", \"mode\": \"auto\"}");
	story(f, "rg", v2_text, &path);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'rg' AND label = 'v2' AND health = 'pruned'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM mutations WHERE tool = 'rg' AND verdict = 'routed' AND reverted = 1 "
				     "AND hunks >= 3 AND fitness >= 0.95 AND candidates >= 2"),
			 1);
	assert_int_equal(routed_label_is(f, "rg", "v3"), 1);
	/* v3's parents: the healthy ancestor and the pruned version */
	assert_int_equal(db_count(f, "SELECT count(*) FROM version_parents p JOIN versions v ON v.id = p.version_id "
				     "JOIN versions q ON q.id = p.parent_id WHERE v.label = 'v3' AND q.label IN ('v1', 'v2')"),
			 2);
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE step = 'regenerate' AND result = 'routed'"), 1);
	collect_once(f, &r); /* publishes the route */
	run_result_free(&r);
	assert_out(f, path, "greet", "bob", NULL, "hello bob\n");
	assert_out(f, path, "shout", "x", NULL, "HELLO x\n");
	assert_out(f, path, "count", "a", "b", "2\n");
	assert_out(f, path, "version", NULL, NULL, "2\n");
	{
		/* dise lineage tells it: v3 regenerated by its mutation */
		char *lin[] = { (char *)bin_path("dise"), "lineage", "rg", NULL };

		dise_cmd(f, lin, &r);
		assert_int_equal(r.status, 0);
		assert_non_null(strstr(r.out, "regenerated by mutation 1"));
		assert_non_null(strstr(r.out, "regeneration: mutation 1 routed"));
		run_result_free(&r);
	}
	free(path);
}

/* mode suggest: proposed, not routed; approve routes to it; a refused diff is never proposed again. */
static void test_suggest_approve_reject(void **state)
{
	struct fixture *f = *state;
	struct run_result r;
	char *pa, *pb, *json;
	json_t *j;

	need_sandbox();
	assert_true(asprintf(&json,
			     "{\"tools\": {\"sa\": {\"test_command\": \"$DISE_CANDIDATE version > /dev/null\", "
			     "\"regenerate\": {\"mode\": \"suggest\"}}, "
			     "\"sb\": {\"test_command\": \"$DISE_CANDIDATE version > /dev/null\", "
			     "\"regenerate\": {\"mode\": \"suggest\"}}}}") > 0);
	write_config(f, json);
	free(json);
	story(f, "sa", v2_text, &pa);
	story(f, "sb", v2_text, &pb);
	show_mutations(f);
	assert_int_equal(routed_label_is(f, "sa", "v1"), 1);
	assert_int_equal(routed_label_is(f, "sb", "v1"), 1);
	{
		char *prop[] = { (char *)bin_path("dise"), "proposals", "--json", NULL };

		j = dise_json(f, prop);
		assert_int_equal(json_array_size(j), 2);
		json_decref(j);
	}
	{
		char *ap[] = { (char *)bin_path("dise"), "approve", "1", NULL };

		dise_cmd(f, ap, &r);
		if (r.status)
			print_error("approve: %s%s\n", r.out, r.err);
		assert_int_equal(r.status, 0);
		run_result_free(&r);
	}
	assert_int_equal(routed_label_is(f, "sa", "v3"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM mutations WHERE id = 1 AND verdict = 'approved' AND version_id > 0"), 1);
	collect_once(f, &r);
	run_result_free(&r);
	assert_out(f, pa, "greet", "bob", NULL, "hello bob\n");
	assert_out(f, pa, "shout", "y", NULL, "HELLO y\n");
	{
		char *rej[] = { (char *)bin_path("dise"), "reject", "2", "--why", "count must not ship yet", NULL };
		char *again[] = { (char *)bin_path("dise"), "regenerate", "sb", NULL };

		dise_cmd(f, rej, &r);
		assert_int_equal(r.status, 0);
		run_result_free(&r);
		assert_int_equal(db_count(f, "SELECT count(*) FROM mutations WHERE id = 2 AND verdict = 'refused' "
					     "AND reason LIKE '%count must not ship yet%'"),
				 1);
		/* the same diff again: not proposed a second time */
		dise_cmd(f, again, &r);
		assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
		assert_non_null(strstr(r.out, "refused by an operator before"));
		run_result_free(&r);
		dise_cmd(f, rej, &r); /* no longer a proposal */
		assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
		run_result_free(&r);
	}
	assert_int_equal(routed_label_is(f, "sb", "v1"), 1);
	free(pa);
	free(pb);
}

/*
 * The ratchet: v2's features come with a sleep where the test command runs
 * (version): the candidate passes every check but is slower than v1, so it
 * is rejected below 95%; three rejections lock; the lock ends.
 */
static void test_ratchet(void **state)
{
	struct fixture *f = *state;
	/*
	 * 0.7 s slower: the ratchet's fitness is (a + NOISE(a)) / (a + extra),
	 * so a candidate 0.4 s slower passed it once the ancestor's checks took
	 * 2.4 s (the ASan suite under two busy loops measured 1.3 s); 0.7 s
	 * needs an ancestor of 4.3 s to pass
	 */
	static const char slow[] = "#!/bin/sh\n"
				   "# a tool\n"
				   "case \"$1\" in\n"
				   "greet)\n"
				   "\techo \"hello $2\"\n"
				   "\tkill -SEGV $$\n"
				   "\t;;\n"
				   "version)\n"
				   "\tsleep 0.7; echo 2\n"
				   "\t;;\n"
				   "esac\n"
				   "exit 0\n";
	char *again[] = { (char *)bin_path("dise"), "regenerate", "rt", NULL };
	struct run_result r;
	char *path;
	int i;

	need_sandbox();
	config_for(f, "rt", "{\"lock_after\": 3, \"cooldown_seconds\": 3600}");
	story(f, "rt", slow, &path);
	assert_int_equal(db_count(f, "SELECT count(*) FROM mutations WHERE tool = 'rt' AND verdict = 'ratchet' AND fitness < 0.95"), 1);
	assert_int_equal(routed_label_is(f, "rt", "v1"), 1);
	for (i = 0; i < 2; i++) {
		dise_cmd(f, again, &r);
		if (!strstr(r.out, "below the ratchet"))
			show_mutations(f);
		assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
		assert_non_null(strstr(r.out, "below the ratchet"));
		run_result_free(&r);
	}
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE step = 'regenerate' AND detail LIKE '%locked for 3600 s%'"), 1);
	dise_cmd(f, again, &r);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
	assert_non_null(strstr(r.out, "locked: locked by the ratchet"));
	run_result_free(&r);
	{
		/* dise health shows the lock */
		char *health[] = { (char *)bin_path("dise"), "health", NULL };

		dise_cmd(f, health, &r);
		assert_non_null(strstr(r.out, "regeneration: rt: mutation 4 locked"));
		assert_non_null(strstr(r.out, "LOCKED by the ratchet for"));
		run_result_free(&r);
	}
	/* the cool-down over (its end moved into the past, as time would): tried again, and rejected again */
	{
		char *dbp;
		sqlite3 *db;

		assert_true(asprintf(&dbp, "%s/dise.db", f->home) > 0);
		db = db_open(dbp);
		assert_int_equal(sqlite3_exec(db, "UPDATE ratchet SET locked_until_ns = 1 WHERE tool = 'rt'", NULL, NULL, NULL),
				 SQLITE_OK);
		sqlite3_close(db);
		free(dbp);
	}
	dise_cmd(f, again, &r);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
	assert_non_null(strstr(r.out, "below the ratchet"));
	run_result_free(&r);
	assert_int_equal(routed_label_is(f, "rt", "v1"), 1);
	free(path);
}

/*
 * The sandbox: v2's new code writes outside its scratch tree (beside the
 * tool, and into DISE_HOME) when its features run; the candidates run it,
 * and nothing lands. The candidate is still made: the writes fail inside.
 */
static void test_sandbox_contains(void **state)
{
	struct fixture *f = *state;
	char *path, *v2, *out1, *out2;
	struct stat sb;

	need_sandbox();
	assert_true(asprintf(&out1, "%s/escaped", f->dir) > 0);
	assert_true(asprintf(&out2, "%s/escaped", f->home) > 0);
	assert_true(asprintf(&v2,
			     "#!/bin/sh\n"
			     "echo pwned > '%s' 2>/dev/null; echo pwned > '%s' 2>/dev/null\n"
			     "case \"$1\" in\n"
			     "greet)\n"
			     "\techo \"hello $2\"\n"
			     "\tkill -SEGV $$\n"
			     "\t;;\n"
			     "version)\n"
			     "\techo 1\n"
			     "\t;;\n"
			     "esac\n"
			     "exit 0\n",
			     out1, out2) > 0);
	config_for(f, "sx", "{}");
	story(f, "sx", v2, &path);
	/* the run under the shim (not sandboxed: it is the deploy) wrote them: remove, then regenerate */
	unlink(out1);
	unlink(out2);
	{
		char *again[] = { (char *)bin_path("dise"), "regenerate", "sx", NULL };
		struct run_result r;

		dise_cmd(f, again, &r);
		run_result_free(&r);
	}
	assert_true(db_count(f, "SELECT count(*) FROM mutations WHERE tool = 'sx' AND candidates >= 1") >= 1);
	assert_int_equal(stat(out1, &sb), -1);
	assert_int_equal(stat(out2, &sb), -1);
	free(out1);
	free(out2);
	free(v2);
	free(path);
}

/*
 * The rollback's own validation of a script (replay: true): a script's run
 * is recorded as its interpreter's argv ([/bin/sh, /path/tool, greet,
 * bob]); replayed against a candidate script as it was, the candidate got
 * the script's path as its first argument and never failed the rule's way,
 * so v2, which crashes exactly like the pruned v3, was routed to. It is
 * replayed from the script's slot on: v2 is refused, v1 routed to.
 */
static void test_script_replay_refuses(void **state)
{
	struct fixture *f = *state;
	static const char v3_text[] = "#!/bin/sh\n"
				      "# a tool, v3\n"
				      "case \"$1\" in\n"
				      "greet)\n"
				      "\techo \"hello $2\"\n"
				      "\tkill -SEGV $$\n"
				      "\t;;\n"
				      "esac\n"
				      "exit 0\n";
	char *argv[] = { NULL, "greet", "bob", NULL }, *path;
	struct run_result r;

	write_config(f, "{\"tools\": {\"sr\": {\"replay\": true}}}");
	assert_true(asprintf(&path, "%s/sr", f->dir) > 0);
	write_file(path, 0755, regen_v1_text);
	tool_add(f, "sr", "v1", path, NULL);
	write_file(path, 0755, v2_text);
	tool_add(f, "sr", "v2", path, "v1");
	write_file(path, 0755, v3_text);
	tool_add(f, "sr", "v3", path, "v2");
	argv[0] = path;
	watched(f, argv, &r);
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	heal(f, "sr", "v3");
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE tool = 'sr' AND step = 'validate_rules' "
				     "AND result = 'rejected' AND detail LIKE 'v2: fails like rule%'"),
			 1);
	assert_int_equal(routed_label_is(f, "sr", "v1"), 1);
	free(path);
}

/* The config: what is not built is refused in one line that says so; the defaults; a bad value named. */
static void test_config(void **state)
{
	static const struct {
		const char *json, *err;
	} bad[] = {
		{ "{\"tools\": {\"t\": {\"regenerate\": {\"strategy\": \"llm\"}}}}", "strategy \"llm\" needs \"endpoint\"" },
		{ "{\"tools\": {\"t\": {\"regenerate\": {\"strategy\": \"command\"}}}}", "strategy \"command\" needs" },
		{ "{\"tools\": {\"t\": {\"regenerate\": {\"mode\": \"always\"}}}}", "must be \"auto\", \"suggest\", \"ask\"" },
		{ "{\"tools\": {\"t\": {\"regenerate\": {\"ratchet\": 2}}}}", "'tools.t.regenerate.ratchet' must be a number" },
		{ "{\"tools\": {\"t\": {\"regenerate\": {\"nope\": 1}}}}", "unknown key 'tools.t.regenerate.nope'" },
		{ "{\"tools\": {\"t\": {\"source\": {\"repo\": \"/src\"}}}}", "needs \"repo\", \"build\" and \"artifact\"" },
	};
	struct dise_config cfg;
	char err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(dise_config_parse(bad[i].json, strlen(bad[i].json), &cfg, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].err))
			print_error("%s: got '%s'\n", bad[i].json, err);
		assert_non_null(strstr(err, bad[i].err));
	}
	{
		static const char ok[] = "{\"tools\": {\"t\": {\"regenerate\": {\"mode\": \"suggest\"}}, \"u\": {}}}";

		assert_int_equal(dise_config_parse(ok, strlen(ok), &cfg, err, sizeof(err)), 0);
		assert_true(dise_config_tool(&cfg, "t")->regen.enabled);
		assert_int_equal(dise_config_tool(&cfg, "t")->regen.mode, DISE_REGEN_SUGGEST);
		assert_int_equal(dise_config_tool(&cfg, "t")->regen.max_candidates, 64);
		assert_false(dise_config_tool(&cfg, "u")->regen.enabled); /* off by default: rollback only */
		dise_config_free(&cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test_setup_teardown(test_revert_hunks_auto, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_suggest_approve_reject, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_ratchet, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sandbox_contains, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_script_replay_refuses, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
