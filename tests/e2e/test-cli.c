/* SPDX-License-Identifier: MIT */
/*
 * The `dise` command line itself: every command answers --help with its own
 * usage on stdout (exit 0); refuses an unknown option, a missing or an extra
 * operand, and a number that is not one with one line and its usage on
 * stderr (exit 2); `dise --version` prints the CMake project's version; what
 * follows TOOL in `dise run TOOL` reaches TOOL untouched. Each test has its
 * own DISE_HOME and DISE_RING: no other test's collector is touched.
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

/* Every command of the table in cli/main.c. */
static const char *const commands[] = {
	"run", "attach", "runs", "crashes", "metrics", "health", "lineage", "pruned", "rules", "journal",
	"heal", "reset", "tool", "collector", "ring", "version", "help",
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* `dise ARGS...` (up to 14, then NULL) with f's home and ring. */
static void dise(struct fixture *f, struct run_result *r, ...)
{
	char *argv[16] = { (char *)bin_path("dise") };
	va_list ap;
	size_t n = 1;

	va_start(ap, r);
	while (n < 15 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	dise_cmd(f, argv, r);
}

static int exit_status(const struct run_result *r)
{
	return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : 128 + WTERMSIG(r->status);
}

/*
 * A usage error of command cmd: exit 2, nothing on stdout, a first line
 * "dise CMD: <says>" (says: its start; NULL: anything) then the command's usage.
 */
static void assert_usage_error(const struct run_result *r, const char *cmd, const char *says)
{
	char head[128], usage[128];
	const char *nl = strchr(r->err, '\n');

	snprintf(head, sizeof(head), "dise %s: %s", cmd, says ? says : "");
	snprintf(usage, sizeof(usage), "\nusage: dise %s", cmd);
	if (exit_status(r) != 2 || r->out_len || strncmp(r->err, head, strlen(head)) || !nl ||
	    strncmp(nl, usage, strlen(usage)))
		fail_msg("dise %s: status %d, wanted 2 and '%s' then '%s'; out '%s', err '%s'", cmd, exit_status(r),
			 head, usage + 1, r->out, r->err);
}

/* `dise CMD --help` and `-h`: its usage on stdout, exit 0; `dise help CMD` and `dise --help CMD` print the same. */
static void test_cli_help(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < NCOMMANDS; i++) {
		struct run_result h, s, viahelp;
		char usage[64];

		dise(f, &h, commands[i], "--help", NULL);
		snprintf(usage, sizeof(usage), "usage: dise %s", commands[i]);
		if (exit_status(&h) != 0 || strncmp(h.out, usage, strlen(usage)) || h.err_len)
			fail_msg("dise %s --help: status %d, out '%s', err '%s'", commands[i], exit_status(&h), h.out,
				 h.err);
		/* its own usage, not the list of every command */
		assert_null(strstr(h.out, "usage: dise COMMAND"));
		dise(f, &s, commands[i], "-h", NULL);
		assert_int_equal(exit_status(&s), 0);
		assert_string_equal(s.out, h.out);
		dise(f, &viahelp, "help", commands[i], NULL);
		assert_int_equal(exit_status(&viahelp), 0);
		assert_string_equal(viahelp.out, h.out);
		run_result_free(&viahelp);
		dise(f, &viahelp, "--help", commands[i], NULL);
		assert_int_equal(exit_status(&viahelp), 0);
		assert_string_equal(viahelp.out, h.out);
		run_result_free(&h);
		run_result_free(&s);
		run_result_free(&viahelp);
	}
	{
		/* after operands too: options are anywhere but in `dise run` */
		struct run_result r;

		dise(f, &r, "lineage", "sometool", "--help", NULL);
		assert_int_equal(exit_status(&r), 0);
		assert_non_null(strstr(r.out, "usage: dise lineage TOOL"));
		run_result_free(&r);
		dise(f, &r, "ring", "stat", "--help", NULL);
		assert_int_equal(exit_status(&r), 0);
		assert_non_null(strstr(r.out, "usage: dise ring stat"));
		run_result_free(&r);
	}
}

/* `dise`, `dise --help`, `dise help`: the list of commands, each with its line. */
static void test_cli_global_usage(void **state)
{
	struct fixture *f = *state;
	struct run_result r, h, none;
	size_t i;

	dise(f, &r, "--help", NULL);
	assert_int_equal(exit_status(&r), 0);
	assert_int_equal(strncmp(r.out, "usage: dise COMMAND", 19), 0);
	for (i = 0; i < NCOMMANDS; i++) {
		char line[64];

		snprintf(line, sizeof(line), "\n  %-10s ", commands[i]);
		if (!strstr(r.out, line))
			fail_msg("dise --help does not list '%s': %s", commands[i], r.out);
	}
	dise(f, &h, "help", NULL);
	assert_int_equal(exit_status(&h), 0);
	assert_string_equal(h.out, r.out);
	dise(f, &none, NULL);
	assert_int_equal(exit_status(&none), 2);
	assert_int_equal(none.out_len, 0);
	assert_string_equal(none.err, r.out);
	run_result_free(&r);
	run_result_free(&h);
	run_result_free(&none);
}

/* `dise --version` and `dise version`: "dise <PROJECT_VERSION>". */
static void test_cli_version(void **state)
{
	struct fixture *f = *state;
	struct run_result r;

	dise(f, &r, "--version", NULL);
	assert_int_equal(exit_status(&r), 0);
	assert_string_equal(r.out, "dise " DISE_VERSION "\n");
	assert_int_equal(r.err_len, 0);
	run_result_free(&r);
	dise(f, &r, "version", NULL);
	assert_int_equal(exit_status(&r), 0);
	assert_string_equal(r.out, "dise " DISE_VERSION "\n");
	run_result_free(&r);
	dise(f, &r, "--version", "extra", NULL);
	assert_usage_error(&r, "version", "unexpected argument 'extra'");
	run_result_free(&r);
}

/* An unknown command or global option: exit 2. */
static void test_cli_unknown_command(void **state)
{
	struct fixture *f = *state;
	struct run_result r;

	dise(f, &r, "nosuch", NULL);
	assert_int_equal(exit_status(&r), 2);
	assert_int_equal(r.out_len, 0);
	assert_non_null(strstr(r.err, "unknown command 'nosuch'"));
	run_result_free(&r);
	dise(f, &r, "--nosuch", NULL);
	assert_int_equal(exit_status(&r), 2);
	assert_int_equal(r.out_len, 0);
	assert_non_null(strstr(r.err, "unknown option '--nosuch'"));
	run_result_free(&r);
	dise(f, &r, "help", "nosuch", NULL);
	assert_usage_error(&r, "help", "unknown command 'nosuch'");
	run_result_free(&r);
}

/* Every command refuses an option it does not have, before doing anything. */
static void test_cli_unknown_option(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < NCOMMANDS; i++) {
		struct run_result r;

		dise(f, &r, commands[i], "--no-such-option", NULL);
		assert_usage_error(&r, commands[i], "unknown option '--no-such-option'");
		run_result_free(&r);
		dise(f, &r, commands[i], "-x", NULL);
		assert_usage_error(&r, commands[i], "unknown option '-x'");
		run_result_free(&r);
	}
	{
		/* the review's cases, and an option of another command or given a value it does not take */
		static const char *const cases[][5] = {
			{ "ring", "stat", "--jsno", "unknown option '--jsno'" },
			{ "ring", "dump", "--json", "--jsno", "unknown option '--jsno'" },
			{ "health", "--json=yes", "option '--json' takes no argument" },
			{ "runs", "--limit", "option '--limit' needs an argument" },
			{ "heal", "app", "--why", "x", "unknown option '--why'" },
			{ "lineage", "app", "--json", "--dot", "--json or --dot, not both" },
			{ "ring", "stat", "--consume", "--consume is for 'ring dump' only" },
			{ "attach", "1", "--json", "unknown option '--json'" },
			{ "tool", "add", "app", "/bin/true", "--version V is required" },
		};

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct run_result r;
			size_t n = 0;

			while (n + 1 < 5 && cases[i][n + 1])
				n++;
			/* cases[i][n] is what it says, the arguments before it */
			dise(f, &r, cases[i][0], n > 1 ? cases[i][1] : NULL, n > 2 ? cases[i][2] : NULL,
			     n > 3 ? cases[i][3] : NULL, NULL);
			assert_usage_error(&r, cases[i][0], cases[i][n]);
			run_result_free(&r);
		}
	}
}

/* Operands: too few or too many is a usage error, naming the first extra one. */
static void test_cli_operands(void **state)
{
	struct fixture *f = *state;
	static const char *const extra[][5] = {
		{ "runs", "x" },
		{ "crashes", "x" },
		{ "health", "--json", "x" },
		{ "pruned", "x" },
		{ "rules", "x" },
		{ "lineage", "app", "x" },
		{ "heal", "app", "--version", "v1", "x" },
		{ "reset", "app", "x" },
		{ "tool", "add", "app", "/bin/true", "x" },
		{ "collector", "status", "x" },
		{ "ring", "stat", "x" },
		{ "attach", "1", "x" },
		{ "help", "runs", "x" },
	};
	static const char *const missing[] = { "run", "attach", "lineage", "heal", "reset", "tool", "collector", "ring" };
	size_t i;

	for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		struct run_result r;

		dise(f, &r, extra[i][0], extra[i][1], extra[i][2], extra[i][3], extra[i][4], NULL);
		assert_usage_error(&r, extra[i][0], "unexpected argument 'x'");
		run_result_free(&r);
	}
	for (i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		struct run_result r;

		dise(f, &r, missing[i], NULL);
		assert_usage_error(&r, missing[i], "missing operand");
		run_result_free(&r);
	}
	{
		struct run_result r;

		dise(f, &r, "ring", "nosuch", NULL);
		assert_usage_error(&r, "ring", "unknown ring command 'nosuch'");
		run_result_free(&r);
		dise(f, &r, "collector", "nosuch", NULL);
		assert_usage_error(&r, "collector", "unknown collector command 'nosuch'");
		run_result_free(&r);
		dise(f, &r, "tool", "nosuch", NULL);
		assert_usage_error(&r, "tool", "unknown tool command 'nosuch'");
		run_result_free(&r);
	}
}

/* Numbers are whole numbers in range, all of the argument, or a usage error. */
static void test_cli_numbers(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *cmd, *opt, *value, *says;
	} bad[] = {
		{ "runs", "--limit", "abc", "--limit 'abc' is not a whole number" },
		{ "runs", "--limit", "", "--limit '' is not a whole number" },
		{ "runs", "--limit", "5x", "--limit '5x' is not a whole number" },
		{ "runs", "--limit", " 5", "--limit ' 5' is not a whole number" },
		{ "runs", "--limit", "+5", "--limit '+5' is not a whole number" },
		{ "runs", "--limit", "0x10", "--limit '0x10' is not a whole number" },
		{ "runs", "--limit", "-", "--limit '-' is not a whole number" },
		{ "runs", "--limit", "-1", "--limit -1 is out of range (0 to 2147483647)" },
		{ "runs", "--limit", "2147483648", "--limit 2147483648 is out of range (0 to 2147483647)" },
		{ "runs", "--limit", "99999999999999999999", "--limit 99999999999999999999 is out of range" },
		{ "runs", "--limit", "-99999999999999999999", "--limit -99999999999999999999 is out of range" },
		{ "attach", "--detach-after", "0", "--detach-after 0 is out of range (1 to 31536000)" },
		{ "attach", "--detach-after", "1.5", "--detach-after '1.5' is not a whole number" },
		{ "attach", "--detach-after", "31536001", "--detach-after 31536001 is out of range" },
	};
	static const struct {
		const char *pid, *says;
	} bad_pid[] = {
		{ "abc", "PID 'abc' is not a whole number" },
		{ "12abc", "PID '12abc' is not a whole number" },
		{ "0", "PID 0 is out of range (1 to 2147483647)" },
		{ "2147483648", "PID 2147483648 is out of range" },
		{ "99999999999999999999", "PID 99999999999999999999 is out of range" },
	};
	struct run_result r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* attach's options come with a PID: the number is refused before any process is looked at */
		if (!strcmp(bad[i].cmd, "attach"))
			dise(f, &r, "attach", "1", bad[i].opt, bad[i].value, NULL);
		else
			dise(f, &r, bad[i].cmd, bad[i].opt, bad[i].value, NULL);
		assert_usage_error(&r, bad[i].cmd, bad[i].says);
		run_result_free(&r);
	}
	for (i = 0; i < sizeof(bad_pid) / sizeof(bad_pid[0]); i++) {
		dise(f, &r, "attach", bad_pid[i].pid, NULL);
		assert_usage_error(&r, "attach", bad_pid[i].says);
		run_result_free(&r);
	}
	/* and good ones are taken, at the edges of their range, as --limit=N too */
	collect_once(f, &r);
	run_result_free(&r);
	dise(f, &r, "runs", "--limit", "0", "--json", NULL);
	assert_int_equal(exit_status(&r), 0);
	assert_string_equal(r.out, "[]\n");
	run_result_free(&r);
	dise(f, &r, "runs", "--json", "--limit=2147483647", NULL);
	assert_int_equal(exit_status(&r), 0);
	assert_string_equal(r.out, "[]\n");
	run_result_free(&r);
	dise(f, &r, "runs", "--limit", "007", "--tool", "x", NULL);
	assert_int_equal(exit_status(&r), 0);
	run_result_free(&r);
}

/* `dise run TOOL ...`: options stop at TOOL; its own, even dise's names, pass through untouched. */
static void test_cli_run_passes_options(void **state)
{
	struct fixture *f = *state;
	struct run_result r;

	dise(f, &r, "run", "/bin/sh", "-c", "printf '%s|' \"$@\"", "sh", "--json", "--help", "-x", "--limit", "abc", NULL);
	if (exit_status(&r) != 0)
		fail_msg("dise run: status %d, err '%s'", exit_status(&r), r.err);
	assert_string_equal(r.out, "--json|--help|-x|--limit|abc|");
	run_result_free(&r);
	/* and `--` ends dise's options: TOOL may then look like one */
	dise(f, &r, "run", "--", "/bin/sh", "-c", "printf '%s|' \"$@\"", "sh", "--version", NULL);
	assert_int_equal(exit_status(&r), 0);
	assert_string_equal(r.out, "--version|");
	run_result_free(&r);
	/* before TOOL, an option is dise's */
	dise(f, &r, "run", "--json", "/bin/true", NULL);
	assert_usage_error(&r, "run", "unknown option '--json'");
	run_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cli_help, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_cli_global_usage, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_cli_version, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_cli_unknown_command, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_cli_unknown_option, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_cli_operands, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_cli_numbers, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_cli_run_passes_options, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
