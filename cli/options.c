/* SPDX-License-Identifier: MIT */
/*
 * How every `dise` command reads its arguments: getopt_long() with long
 * options only (and -h), the command's usage on --help (stdout, exit 0) and
 * after any usage error (stderr, exit 2, after one line saying what was
 * wrong), and numbers that are numbers: "abc", "-1" where counts are meant,
 * "12x" or a value past long long are refused rather than read as 0, a
 * wrapped value or a prefix, as atoi() and a bare strtol() would.
 *
 * These exit() instead of returning: they run first in a command, before it
 * holds anything, as git's parse_options() does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_LONGOPTS 16

void dise_cli_usage_error(const struct dise_cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	dise_cli_print(stderr, "dise %s: ", cmd->name);
	va_start(ap, fmt);
	dise_cli_vprint(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(cmd->usage, stderr);
	exit(2);
}

int dise_cli_getopt(int argc, char **argv, const struct option *longopts, enum dise_cli_order order,
		    const struct dise_cli_cmd *cmd)
{
	struct option all[MAX_LONGOPTS + 1] = { { "help", no_argument, NULL, 'h' } };
	const char *word;
	size_t n = 1;
	int c;

	for (; longopts && longopts->name; longopts++) {
		if (n == MAX_LONGOPTS)
			abort(); /* a command with too many options: a bug, not an input */
		all[n++] = *longopts;
	}
	opterr = 0;
	/* "+": stop at the first operand; ":": tell a missing argument (':') from an unknown option ('?') */
	c = getopt_long(argc, argv, order == DISE_CLI_STOP ? "+:h" : ":h", all, NULL);
	switch (c) {
	case 'h': fputs(cmd->usage, stdout); exit(0);
	case ':': dise_cli_usage_error(cmd, "option '%s' needs an argument", argv[optind - 1]);
	case '?':
		/* an unknown short option, maybe in a cluster (-h cannot fail: only --help=x) */
		if (optopt > 0 && optopt < DISE_CLI_OPT_JSON && optopt != 'h')
			dise_cli_usage_error(cmd, "unknown option '-%c'", optopt);
		word = argv[optind - 1];
		if (optopt) /* a known flag given "=value": --json=1 */
			dise_cli_usage_error(cmd, "option '%.*s' takes no argument", (int)strcspn(word, "="), word);
		dise_cli_usage_error(cmd, "unknown option '%s'", word); /* or an ambiguous abbreviation */
	default: return c;
	}
}

char **dise_cli_operands(int argc, char **argv, int min, int max, const struct dise_cli_cmd *cmd)
{
	int n = argc - optind;

	if (n < min)
		dise_cli_usage_error(cmd, "missing operand");
	if (max >= 0 && n > max)
		dise_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + max]);
	return argv + optind;
}

int dise_cli_parse_json(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	static const struct option opts[] = { DISE_CLI_JSON, DISE_CLI_OPT_END };
	int json = 0;

	while (dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd) == DISE_CLI_OPT_JSON)
		json = 1;
	dise_cli_operands(argc, argv, 0, 0, cmd);
	return json;
}

int dise_cli_parse_ll(const char *s, long long min, long long max, long long *ret_value)
{
	const char *digits = s[0] == '-' ? s + 1 : s;
	int saved = errno, err;
	long long v;
	char *end;

	/* strtoll() would also take blanks, a '+', and an empty string as 0 */
	if (*digits < '0' || *digits > '9')
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	err = errno;
	errno = saved;
	if (*end)
		return -EINVAL;
	if (err == ERANGE || v < min || v > max)
		return -ERANGE;
	*ret_value = v;
	return 0;
}

long long dise_cli_number(const char *s, long long min, long long max, const char *what, const struct dise_cli_cmd *cmd)
{
	long long v;
	int r = dise_cli_parse_ll(s, min, max, &v);

	if (r == -EINVAL)
		dise_cli_usage_error(cmd, "%s '%s' is not a whole number", what, s);
	if (r < 0)
		dise_cli_usage_error(cmd, "%s %s is out of range (%lld to %lld)", what, s, min, max);
	return v;
}
