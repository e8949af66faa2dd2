/* SPDX-License-Identifier: MIT */
/*
 * Subcommands of `dise`, one file each, dispatched from the table in main.c
 * (git's builtin/). Every command parses its arguments with getopt_long()
 * through dise_cli_getopt(): long options only (and -h), --help prints the
 * command's usage on stdout and exits 0; an unknown option, a missing or
 * extra operand, or a number that is not one prints one line and the usage
 * on stderr and exits 2. Runtime failures exit 1.
 */
#ifndef DISE_CLI_H
#define DISE_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One subcommand: `dise NAME ...` calls fn(argc, argv, cmd) with argv[0] = NAME. */
struct dise_cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv, const struct dise_cli_cmd *cmd); /* returns the exit status */
	const char *summary; /* one line, for `dise --help` */
	const char *usage;   /* "usage: dise NAME ...\n" and what it does, for `dise NAME --help` and errors */
};

int dise_cli_ring(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_runs(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_crashes(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_metrics(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_collector(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_lineage(int argc, char **argv, const struct dise_cli_cmd *cmd);
/* tool's lineage (rows: the store's LINEAGE report) as a Graphviz digraph on f, every label escaped for DOT. */
void dise_cli_lineage_dot(FILE *f, const char *tool, json_t *rows);
int dise_cli_report(int argc, char **argv, const struct dise_cli_cmd *cmd);
/* A crash's frames (the store's JSON text) as its top frames, each with its source when sy finds it (cmd-crashes.c). */
struct dise_symbols;
struct dise_store;
json_t *dise_cli_top_frames(struct dise_symbols *sy, const char *frames);
/* The canary rollouts (all: the ended ones too) as `dise canary --json` prints them: 0, or the exit status after saying why. */
int dise_cli_canaries_json(struct dise_store *st, const char *home, int all, json_t **ret);
int dise_cli_run(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_heal(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_reset(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_health(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_pruned(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_rules(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_journal(int argc, char **argv, const struct dise_cli_cmd *cmd);
/* Starts the collector of this DISE_HOME unless one runs. Returns 0 or an exit code. */
int dise_cli_collector_ensure(void);
int dise_cli_tool(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_tools(int argc, char **argv, const struct dise_cli_cmd *cmd);
/*
 * The tool a command's operand names (cli/cmd-tools.c) into buf: its path or
 * group name, a relative path, or a unique file name (the name as given
 * when none). 0, or the exit status after saying why (several tools).
 */
struct dise_store;
int dise_cli_tool_name(struct dise_store *st, const char *name, char *buf, size_t size);
int dise_cli_attach(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_preload(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_service(int argc, char **argv, const struct dise_cli_cmd *cmd);

/* ---- where dise's own files are (locate.c): relative to the running binary, build tree or installed ---- */

/* The absolute path of the program NAME beside this one (dise-collectord) into buf: 0 or -errno. */
int dise_cli_sibling(const char *name, char *buf, size_t size);
/*
 * The shim's canonical absolute path into buf: the installed layout's, else
 * the build tree's. 0, or -ENOENT (tried, when not NULL, receives the
 * installed layout's path, for the error) or -errno.
 */
int dise_cli_shim_path(char *buf, size_t size, char *tried, size_t tsize);

/* ---- system files (sysfile.c), for dise preload and dise service ---- */

struct stat;
/* The system root to edit into buf: opt (--root), else $DISE_SYSROOT, else "/". 0, or the exit status after saying why. */
int dise_cli_sysroot(const char *opt, char *buf, size_t size);
/* root + path (an absolute path inside the root) into buf: 0 or -ENAMETOOLONG. */
int dise_cli_syspath(char *buf, size_t size, const char *root, const char *path);
/*
 * The shim to name in a file of root into buf: shim_opt (--shim), else this
 * dise's own, made absolute; a shim inside root is named as the root's
 * programs see it. 0, or the exit status after saying why.
 */
int dise_cli_shim_entry(const char *root, const char *shim_opt, char *buf, size_t size);
/*
 * A small regular file, not through a symbolic link, read whole into buf
 * (NUL-terminated) and its stat: its length, or -errno (-EMLINK: a symbolic
 * link, -EINVAL: not a regular file, -EFBIG: larger than size - 1).
 */
int dise_cli_read_small(const char *path, char *buf, size_t size, struct stat *st);
/* mkdir -p, mode 0755: 1 when dir was made, 0 when it was there, or -errno (dir is restored after use). */
int dise_cli_make_dirs(char *dir);
/* Replaces path by data atomically (temporary file, fsync, rename, fsync of the directory), with mode and owner: 0 or -errno. */
int dise_cli_replace(const char *path, const char *data, size_t len, unsigned mode, unsigned uid, unsigned gid);
/*
 * The shim's self-test before it is named where a host or a service loads
 * it: a regular ELF file that nobody but root (or you) can change, through
 * directories nobody else can change; `/bin/sh -c 'exit 7'` under it exits 7,
 * writes nothing on stderr, and its start and end reach a scratch ring.
 * 0, or 1 after saying what failed.
 */
int dise_cli_shim_selftest(const char *shim);
int dise_cli_core(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_canary(int argc, char **argv, const struct dise_cli_cmd *cmd);
/* Who runs this command, for the journal: "name (uid N)" (cmd-heal.c). */
void dise_cli_who(char *buf, size_t size);
/* Regeneration (cmd-regenerate.c): `dise regenerate`, `dise proposals`, `dise approve`, `dise reject`. */
int dise_cli_regenerate(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_proposals(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_approve(int argc, char **argv, const struct dise_cli_cmd *cmd);
int dise_cli_reject(int argc, char **argv, const struct dise_cli_cmd *cmd);
/* One line on how tool heals forward: its latest mutation, or that it has none (rollback only). */
void dise_cli_regen_line(const char *tool);
/* `dise health`'s lines on regeneration: per tool, its latest attempt, proposals waiting, the ratchet's lock. */
void dise_cli_regen_say(json_t *rows);
/*
 * Opens the store for writing and finds tool's version (ver, or the newest
 * matching otherwise; none names what is missing), *toolp becoming the
 * tool's name. Returns 0 with *st and *id, or the exit status after saying why.
 */
enum dise_pick;
int dise_cli_open_version(const char **toolp, const char *ver, enum dise_pick otherwise, const char *none,
			  struct dise_store **st, char *home, size_t hsize, int64_t *id);
struct dise_config;
/* $DISE_HOME/dise.json of home into cfg: 0, or 1 after saying why. */
int dise_cli_load_config(const char *home, struct dise_config *cfg);

struct dise_store;
/*
 * Opens $DISE_HOME/dise.db for a command; readonly refuses a database that
 * does not exist yet with a one-line hint. Returns 0, or the exit code
 * after saying what went wrong. home receives the state directory.
 */
int dise_cli_open_store(int readonly, struct dise_store **st, char *home, size_t hsize);

/*
 * The ring path to use (dise_ring_choose: the default, or the per-user
 * fallback when another user holds the default path). With say, a
 * fallback is said in one line on stderr. Returns 0 or -errno.
 */
int dise_cli_ring_path(char *buf, size_t size, int say);
/* ---- text (text.c): what reaches a terminal ---- */

/*
 * printf for everything the CLI writes as text: fmt is written as is, and
 * every %s argument (a tool name, a path, argv, a message from SQLite) with
 * its control characters, C1 controls and invalid UTF-8 escaped (\x1b,
 * \n, \\), so that no data can drive the terminal or fake a line.
 * Conversions: printf's. Returns 0, or -1 on a write error.
 */
int dise_cli_print(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dise_cli_vprint(FILE *f, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/*
 * v as one line of JSON on stdout, text that is not UTF-8 written as
 * {"hex": "<its bytes>"} (dise_json_text), never dropped. 0 or -1.
 */
int dise_cli_json_print(json_t *v);
/* The n bytes at s, escaped as dise_cli_print() escapes a string. */
void dise_cli_escape(FILE *f, const char *s, size_t n);
/*
 * The collector's standing error (collector/status.h), as one line on to,
 * once per command: 1 when there is one. A command that read the store
 * exits non-zero after it (main.c).
 */
int dise_cli_collector_error(const char *home, FILE *to);

/* Prints "dise: <msg>: <strerror(-err)>" once and returns the exit code 1. */
int dise_cli_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- parsing arguments (options.c) ---- */

/* Where a command's options may be. */
enum dise_cli_order {
	DISE_CLI_PERMUTE, /* among the operands: `dise lineage TOOL --json` */
	DISE_CLI_STOP,	  /* before the first operand only: `dise run TOOL --its-own-option` */
};

/* The vals of long options start above any char, so that errors can tell `-x` from `--x`. */
enum {
	DISE_CLI_OPT_JSON = 0x100, /* --json, from DISE_CLI_JSON */
	DISE_CLI_OPT_FIRST,	   /* the first val of a command's own options */
};
#define DISE_CLI_JSON { "json", no_argument, NULL, DISE_CLI_OPT_JSON }
#define DISE_CLI_OPT_END { NULL, 0, NULL, 0 }

/*
 * getopt_long() over a command's arguments (argv[0] its name) with longopts
 * (at most 15, ended by DISE_CLI_OPT_END) plus --help and -h, which print
 * cmd's usage on stdout and exit 0. An unknown option, a missing argument or
 * an argument given to a flag print one line and the usage on stderr and
 * exit 2. Returns the val of the next option (optarg: its argument), or -1
 * with optind at the first operand. Not thread-safe (getopt's globals).
 */
int dise_cli_getopt(int argc, char **argv, const struct option *longopts, enum dise_cli_order order,
		    const struct dise_cli_cmd *cmd);

/*
 * After the options: checks that between min and max operands (max < 0: no
 * limit) follow, else exits 2 saying what is missing or extra. Returns
 * argv + optind, the first operand.
 */
char **dise_cli_operands(int argc, char **argv, int min, int max, const struct dise_cli_cmd *cmd);

/* The whole parse of a command that takes [--json] and no operand. Returns 1 for --json, else 0. */
int dise_cli_parse_json(int argc, char **argv, const struct dise_cli_cmd *cmd);

/*
 * s as a decimal integer in [min, max], all of it: an optional '-' then
 * digits, nothing before or after. Returns 0 with *ret_value, -EINVAL when
 * s is not such a number, -ERANGE when it is one outside [min, max] (or
 * outside long long). Thread-safe; errno is left as it was.
 */
int dise_cli_parse_ll(const char *s, long long min, long long max, long long *ret_value);

/* dise_cli_parse_ll() for the argument of `what` (an option or operand name): exits 2 saying why it is wrong. */
long long dise_cli_number(const char *s, long long min, long long max, const char *what,
			  const struct dise_cli_cmd *cmd);

/* Prints "dise NAME: <msg>" and cmd's usage on stderr and exits 2. */
__attribute__((noreturn, format(printf, 2, 3))) void dise_cli_usage_error(const struct dise_cli_cmd *cmd,
									 const char *fmt, ...);

/* A column of a store report's row (collector/store-report.c): text (NULL when NULL), integer (0 when NULL). */
static inline const char *dise_cli_str(json_t *row, const char *name)
{
	return json_string_value(json_object_get(row, name));
}

static inline json_int_t dise_cli_num(json_t *row, const char *name)
{
	return json_integer_value(json_object_get(row, name));
}

#endif
