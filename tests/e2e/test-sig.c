/* SPDX-License-Identifier: MIT */
/*
 * Issue 16, items 8-10: crash signatures that start at the faulting frame
 * (not in abort's path), a symbolic signature that catches a rebuild with
 * the same bug, and what operators see (dise journal, validation
 * rejections, the reset journal's user).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
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

static void copy_file(const char *from, const char *to)
{
	char *cmd;

	assert_true(asprintf(&cmd, "cp '%s' '%s.tmp' && mv '%s.tmp' '%s'", from, to, to, to) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

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

/* `dise ARGS...` (NULL-terminated, at most 14) with f's home and ring; asserts it succeeded; its stdout, to free. */
static char *dise_out(struct fixture *f, ...)
{
	char *argv[16] = { (char *)bin_path("dise") }, *out;
	struct run_result r;
	va_list ap;
	size_t n = 1;

	va_start(ap, f);
	while (n < 15 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	dise_cmd(f, argv, &r);
	if (r.status != 0)
		fail_msg("dise %s: status %d: %s", argv[1], r.status, r.err ? r.err : "");
	out = strdup(r.out ? r.out : "");
	run_result_free(&r);
	return out;
}

/* A copy of prog named tool-label with npad bytes appended, registered as tool's version label. */
static char *add_version(struct fixture *f, const char *tool, const char *label, const char *prog, int npad,
			 const char *parent)
{
	char *path;
	struct run_result r;
	FILE *fp;

	assert_true(asprintf(&path, "%s/%s-%s", f->dir, tool, label) > 0);
	copy_file(prog_path(prog), path);
	fp = fopen(path, "a");
	assert_non_null(fp);
	for (int i = 0; i < npad; i++)
		fputc('\n', fp);
	fclose(fp);
	{
		char *add[] = { (char *)bin_path("dise"), "tool", "add", (char *)tool, "--version", (char *)label, path,
				parent ? "--parent" : NULL, (char *)parent, NULL };

		dise_cmd(f, add, &r);
	}
	assert_int_equal(r.status, 0);
	run_result_free(&r);
	return path;
}

/* Runs `path mode` under the shim; returns its wait status. */
static int run_preloaded(struct fixture *f, const char *path, const char *mode)
{
	char env_ring[4200], env_pre[4200];
	char *a[] = { (char *)path, (char *)mode, NULL };
	const char *env[] = { env_ring, env_pre, NULL };
	struct run_result r;
	int st;

	snprintf(env_ring, sizeof(env_ring), "DISE_RING=%s", f->ring);
	snprintf(env_pre, sizeof(env_pre), "LD_PRELOAD=%s", shim_path());
	assert_int_equal(run_cmd(a, env, NULL, &r), 0);
	st = r.status;
	run_result_free(&r);
	return st;
}

static void collect(struct fixture *f)
{
	struct run_result r;

	collect_once(f, &r);
	run_result_free(&r);
}

/* The first text column of the first row of sql over f's dise.db, strdup'ed (NULL: no row or NULL). */
static char *db_text(struct fixture *f, const char *fmt, ...)
{
	char path[4200], *sql = NULL, *ret = NULL;
	struct sqlite3 *db;
	sqlite3_stmt *q;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&sql, fmt, ap) > 0);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/dise.db", f->home);
	db = db_open(path);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
		ret = strdup((const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(db);
	free(sql);
	return ret;
}

/* The function of the first frame of a crash's frames JSON that is not on the fatal-reporting path. */
static char *first_program_function(const char *frames_json)
{
	json_error_t err;
	json_t *a = json_loads(frames_json, 0, &err), *fr;
	size_t i;
	char *ret = NULL;

	assert_non_null(a);
	json_array_foreach(a, i, fr) {
		if (json_is_true(json_object_get(fr, "fatal_path")))
			continue;
		ret = strdup(json_string_value(json_object_get(fr, "function")) ?: "");
		break;
	}
	json_decref(a);
	return ret;
}

/*
 * Two crash sites of one kind: two signatures (build-specific and
 * symbolic), each starting at the program's function, the abort path
 * (abort, raise, pthread_kill in libc) marked and left out.
 */
static void two_sites(struct fixture *f, const char *kind)
{
	char *tool, m1[16], m2[16];
	int i;

	assert_true(asprintf(&tool, "%s/sites", f->dir) > 0);
	copy_file(prog_path("sigsites"), tool);
	snprintf(m1, sizeof(m1), "%s1", kind);
	snprintf(m2, sizeof(m2), "%s2", kind);
	/* each site twice: one site, one signature */
	for (i = 0; i < 2; i++) {
		assert_true(WIFSIGNALED(run_preloaded(f, tool, m1)));
		assert_true(WIFSIGNALED(run_preloaded(f, tool, m2)));
	}
	collect(f);
	assert_int_equal(db_count(f, "SELECT count(*) FROM crashes"), 4);
	assert_int_equal(db_count(f, "SELECT count(DISTINCT signature) FROM crashes"), 2);
	assert_int_equal(db_count(f, "SELECT count(DISTINCT sym_signature) FROM crashes"), 2);
	assert_int_equal(db_count(f, "SELECT count(*) FROM crashes WHERE sym_signature IS NULL"), 0);
	for (i = 1; i <= 2; i++) {
		char *frames = db_text(f, "SELECT c.frames FROM crashes c JOIN runs r ON r.id = c.run_id "
					  "WHERE r.argv LIKE '%%%s%d%%' ORDER BY c.id LIMIT 1", kind, i);
		char want[32], *fn;

		assert_non_null(frames);
		fn = first_program_function(frames);
		snprintf(want, sizeof(want), "sig_site_%s%d", kind, i);
		assert_non_null(fn);
		assert_string_equal(fn, want);
		if (!strcmp(kind, "abort")) /* abort's own frames are there, marked */
			assert_non_null(strstr(frames, "\"fatal_path\":true"));
		free(fn);
		free(frames);
	}
	free(tool);
}

static void test_two_segv_sites(void **state)
{
	two_sites(*state, "segv");
}

static void test_two_abort_sites(void **state)
{
	two_sites(*state, "abort");
}

#define ROUTED_TO(tool, label)                                                                                  \
	db_count(f, "SELECT count(*) FROM routes rt JOIN versions v ON v.id = rt.version_id WHERE rt.tool = '" tool \
		    "' AND v.label = '" label "'")

/*
 * A rebuild with the same bug: v1 (exitcode) -> v2 (sigsites) -> v3
 * (sigsites-rebuilt: the same source, another build-id). Three crashes of v2
 * at site 1 prune it, learn its rule and route to v1. v3, deployed after,
 * crashes once at site 1: its build-specific signature is not the rule's,
 * its symbolic one is, so the rule heals it at once. v4 (the rebuild, other
 * bytes) crashes once at site 2: not the rule's bug, one strike, not healed.
 */
static void test_rebuilt_descendant(void **state)
{
	struct fixture *f = *state;
	char *v1, *v2, *v3, *v4;
	int i;

	v1 = add_version(f, "reb", "v1", "exitcode", 0, NULL);
	v2 = add_version(f, "reb", "v2", "sigsites", 0, "v1");
	for (i = 0; i < 3; i++)
		assert_true(WIFSIGNALED(run_preloaded(f, v2, "segv1")));
	collect(f);
	assert_int_equal(ROUTED_TO("reb", "v1"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM rules WHERE tool = 'reb' AND sym_signature IS NOT NULL"), 1);

	v3 = add_version(f, "reb", "v3", "sigsites-rebuilt", 0, "v2");
	v4 = add_version(f, "reb", "v4", "sigsites-rebuilt", 1, "v2");
	collect(f); /* the rule's checks reach v3 and v4: covered (descendants of v2) */
	assert_int_equal(db_count(f, "SELECT count(*) FROM rule_checks k JOIN versions v ON v.id = k.version_id "
				     "WHERE v.tool = 'reb' AND v.label IN ('v3', 'v4') AND k.result = 'covered'"),
			 2);
	assert_true(WIFSIGNALED(run_preloaded(f, v3, "segv1")));
	assert_true(WIFSIGNALED(run_preloaded(f, v4, "segv2")));
	collect(f);
	/* a rebuild: another build-specific signature, the same symbolic one */
	assert_int_equal(db_count(f, "SELECT count(DISTINCT c.signature) FROM crashes c JOIN runs r ON r.id = c.run_id "
				     "WHERE r.argv LIKE '%segv1%'"),
			 2);
	assert_int_equal(db_count(f, "SELECT count(DISTINCT c.sym_signature) FROM crashes c JOIN runs r ON r.id = c.run_id "
				     "WHERE r.argv LIKE '%segv1%'"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM failures x JOIN versions v ON v.id = x.version_id "
				     "WHERE v.tool = 'reb' AND v.label = 'v3' AND x.detector = 'rule'"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'reb' AND label = 'v3' AND health = 'pruned'"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM rules WHERE tool = 'reb'"), 1);
	/* the other bug is not the rule's: v4 is not healed on one crash */
	assert_int_equal(db_count(f, "SELECT count(*) FROM failures x JOIN versions v ON v.id = x.version_id "
				     "WHERE v.tool = 'reb' AND v.label = 'v4'"),
			 0);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'reb' AND label = 'v4' AND health = 'pruned'"),
			 0);
	free(v1);
	free(v2);
	free(v3);
	free(v4);
}

/*
 * A rebuild crashing with its parent's bug is not a strike: v1 (sigsites)
 * crashes once at site 1, v2 (sigsites-rebuilt, its child: another
 * build-id, so another build-specific signature) three times at the same
 * site: the same symbolic signature as its baseline's crash, nothing new,
 * v2 stays. Three crashes of v2 at site 2, a bug v1 never had, prune it.
 */
static void test_rebuild_same_bug_no_strike(void **state)
{
	struct fixture *f = *state;
	char *v1, *v2;
	int i;

	v1 = add_version(f, "same", "v1", "sigsites", 0, NULL);
	v2 = add_version(f, "same", "v2", "sigsites-rebuilt", 0, "v1");
	assert_true(WIFSIGNALED(run_preloaded(f, v1, "segv1")));
	for (i = 0; i < 3; i++)
		assert_true(WIFSIGNALED(run_preloaded(f, v2, "segv1")));
	collect(f);
	/* the two builds' crashes: two build-specific signatures, one symbolic */
	assert_int_equal(db_count(f, "SELECT count(DISTINCT signature) FROM crashes"), 2);
	assert_int_equal(db_count(f, "SELECT count(DISTINCT sym_signature) FROM crashes"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM failures x JOIN versions v ON v.id = x.version_id "
				     "WHERE v.tool = 'same' AND v.label = 'v2'"),
			 0);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'same' AND health = 'healthy'"), 2);
	assert_int_equal(db_count(f, "SELECT count(*) FROM routes WHERE tool = 'same'"), 0);

	for (i = 0; i < 3; i++)
		assert_true(WIFSIGNALED(run_preloaded(f, v2, "segv2")));
	collect(f);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'same' AND label = 'v2' AND health = 'pruned'"),
			 1);
	assert_int_equal(ROUTED_TO("same", "v1"), 1);
	free(v1);
	free(v2);
}

/*
 * A candidate rejected by validation: v2 crashes three times, its only
 * ancestor v1 fails the tool's test command, so nothing is routed. `dise
 * health` and `dise lineage` say why (the rejection's reason, not only
 * "no_ancestor"), and `dise journal` shows every step, in text and JSON.
 */
static void test_rejection_visible(void **state)
{
	struct fixture *f = *state;
	char *v1, *v2, *detail, *out;
	json_t *j, *row;
	size_t i;
	int seen = 0;

	v1 = add_version(f, "vrej", "v1", "exitcode", 0, NULL);
	v2 = add_version(f, "vrej", "v2", "sigsites", 0, "v1");
	write_config(f, "{\"tools\": {\"vrej\": {\"test_command\": \"echo self-test-said-no >&2; exit 3\", "
			"\"test_timeout_seconds\": 10}}}");
	for (i = 0; i < 3; i++)
		assert_true(WIFSIGNALED(run_preloaded(f, v2, "segv1")));
	collect(f);
	assert_int_equal(db_count(f, "SELECT count(*) FROM heal_requests h JOIN versions v ON v.id = h.version_id "
				     "WHERE v.tool = 'vrej' AND h.state = 'no_ancestor'"),
			 1);
	detail = db_text(f, "SELECT detail FROM journal WHERE tool = 'vrej' AND step = 'validate_test' AND result = 'rejected'");
	assert_non_null(detail);

	/* dise health: the rejection and its reason, as text and as JSON */
	out = dise_out(f, "health", NULL);
	if (!strstr(out, "validate_test") || !strstr(out, detail))
		fail_msg("dise health does not show the rejection '%s':\n%s", detail, out);
	free(out);
	j = dise_json(f, (char *[]){ (char *)bin_path("dise"), "health", "--json", NULL });
	json_array_foreach(json_object_get(j, "went_wrong"), i, row)
		seen += !strcmp(json_string_value(json_object_get(row, "step")) ?: "", "validate_test") &&
			!strcmp(json_string_value(json_object_get(row, "detail")) ?: "", detail);
	assert_int_equal(seen, 1);
	seen = 0;
	json_array_foreach(json_object_get(j, "recent_failures"), i, row) {
		const char *w = json_string_value(json_object_get(row, "went_wrong"));

		seen += w && strstr(w, detail) != NULL;
	}
	assert_int_equal(seen, 1);
	json_decref(j);

	/* dise lineage: v2's heal went wrong, and why */
	out = dise_out(f, "lineage", "vrej", NULL);
	if (!strstr(out, "went wrong") || !strstr(out, detail))
		fail_msg("dise lineage does not show the rejection '%s':\n%s", detail, out);
	free(out);

	/* dise journal: every step of the heal, oldest first, for this tool only */
	out = dise_out(f, "journal", "--tool", "vrej", NULL);
	assert_non_null(strstr(out, "vrej v"));
	assert_non_null(strstr(out, "validate_test rejected"));
	assert_non_null(strstr(out, "route no_ancestor"));
	assert_true(strstr(out, "start ok") < strstr(out, "route no_ancestor"));
	free(out);
	j = dise_json(f, (char *[]){ (char *)bin_path("dise"), "journal", "--tool", "vrej", "--json", NULL });
	assert_true(json_is_array(j));
	assert_int_equal((int64_t)json_array_size(j), db_count(f, "SELECT count(*) FROM journal WHERE tool = 'vrej'"));
	seen = 0;
	json_array_foreach(j, i, row) {
		assert_string_equal(json_string_value(json_object_get(row, "tool")), "vrej");
		seen += !strcmp(json_string_value(json_object_get(row, "step")), "validate_test") &&
			!strcmp(json_string_value(json_object_get(row, "result")), "rejected") &&
			!strcmp(json_string_value(json_object_get(row, "detail")), detail) &&
			json_integer_value(json_object_get(row, "version")) > 0;
	}
	assert_int_equal(seen, 1);
	json_decref(j);
	j = dise_json(f, (char *[]){ (char *)bin_path("dise"), "journal", "--tool", "nosuchtool", "--json", NULL });
	assert_int_equal((int)json_array_size(j), 0);
	json_decref(j);
	free(detail);
	free(v1);
	free(v2);
}

/*
 * `dise reset` journals who reset by the user's name from the password
 * database, not $USER (unset for root under cron, sudo -i, su -), and with
 * the collector stopped it says the route still applies.
 */
static void test_reset_who(void **state)
{
	struct fixture *f = *state;
	char *v1, *v2, *detail, want[300], *argv[12];
	struct passwd *pw = getpwuid(getuid());
	struct run_result r;
	const char *env[] = { f->env_home, f->env_ring, NULL };
	int i;

	assert_non_null(pw);
	v1 = add_version(f, "rst", "v1", "exitcode", 0, NULL);
	v2 = add_version(f, "rst", "v2", "sigsites", 0, "v1");
	for (i = 0; i < 3; i++)
		assert_true(WIFSIGNALED(run_preloaded(f, v2, "segv1")));
	collect(f);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'rst' AND health = 'pruned'"), 1);
	i = 0;
	argv[i++] = "/usr/bin/env";
	argv[i++] = "-u";
	argv[i++] = "USER";
	argv[i++] = (char *)bin_path("dise");
	argv[i++] = "reset";
	argv[i++] = "rst";
	argv[i++] = "--why";
	argv[i++] = "checked";
	argv[i] = NULL;
	assert_int_equal(run_cmd(argv, env, NULL, &r), 0);
	assert_int_equal(r.status, 0);
	/* no collector runs: the route is not dropped for the shim yet, and it says so */
	if (!strstr(r.out, "still applies"))
		fail_msg("dise reset with no collector: %s", r.out);
	run_result_free(&r);
	detail = db_text(f, "SELECT detail FROM journal WHERE tool = 'rst' AND step = 'reset'");
	assert_non_null(detail);
	snprintf(want, sizeof(want), "by %s (uid %u): checked", pw->pw_name, (unsigned)getuid());
	assert_string_equal(detail, want);
	free(detail);
	free(v1);
	free(v2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_segv_sites, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_two_abort_sites, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rebuilt_descendant, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_same_bug_no_strike, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rejection_visible, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_reset_who, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
