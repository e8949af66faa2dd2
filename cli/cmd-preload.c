/* SPDX-License-Identifier: MIT */
/*
 * `dise preload enable|disable|status`: the shim in /etc/ld.so.preload, so
 * that every dynamically linked program of the host is watched.
 *
 * The file is edited, never rewritten from scratch: enable appends one line
 * (the shim's absolute path) and keeps every byte of what was there; disable
 * removes exactly that entry and nothing else; a file that enable created is
 * removed again by disable when nothing else was added to it (the marker
 * /var/lib/dise/ld.so.preload.created says it was dise's). Each change is a
 * temporary file renamed over the old one, so the dynamic loader of a
 * program starting meanwhile reads the old list or the new, whole. enable
 * first runs the shim's self-test (sysfile.c): a shim that cannot load, that
 * changes a program's exit or output, or that someone else can write, is
 * refused before any program of the host loads it.
 *
 * glibc reads entries separated by spaces, tabs, newlines or colons, with
 * no comments; a symbolic link in its place is refused (a rename would
 * replace the link by a file).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define PRELOAD "/etc/ld.so.preload"
#define MARKER "/var/lib/dise/ld.so.preload.created"
#define SEPS " \t\n:"

struct preload {
	char root[PATH_MAX], path[PATH_MAX + 32], marker[PATH_MAX + 64];
	char entry[PATH_MAX]; /* the shim as a program of the root names it */
	char text[65536];     /* the file (empty when missing) */
	int exists;
	struct stat st;
};

/* Whether text names entry as one of its entries. */
static int names(const char *text, const char *entry)
{
	size_t n = strlen(entry);
	const char *p = text;

	while (*p) {
		size_t len = strcspn(p, SEPS);

		if (len == n && !memcmp(p, entry, n))
			return 1;
		p += len;
		p += strspn(p, SEPS);
	}
	return 0;
}

/* text without the entry: a line that is exactly it goes, elsewhere the entry and one separator go. */
static void drop_entry(const char *text, const char *entry, char *out, size_t size)
{
	size_t n = strlen(entry), o = 0;
	const char *p = text;

	while (*p && o + 1 < size) {
		size_t len = strcspn(p, SEPS);

		if (len == n && !memcmp(p, entry, n) && (p == text || strchr(SEPS, p[-1]))) {
			int line_start = p == text || p[-1] == '\n';

			p += len;
			if (*p && (line_start || *p != '\n')) /* its separator, but never the newline ending another's line */
				p++;
			else if (!*p && line_start && o && out[o - 1] == '\n') /* the last line, with no newline: the one before it */
				o--;
			continue;
		}
		if (!len)
			len = 1; /* a separator */
		if (o + len >= size)
			break;
		memcpy(out + o, p, len);
		o += len;
		p += len;
	}
	out[o] = '\0';
}

static int load(struct preload *pl, const char *root_opt, const char *shim_opt)
{
	int r;

	if ((r = dise_cli_sysroot(root_opt, pl->root, sizeof(pl->root))) != 0)
		return r;
	if (dise_cli_syspath(pl->path, sizeof(pl->path), pl->root, PRELOAD) < 0 ||
	    dise_cli_syspath(pl->marker, sizeof(pl->marker), pl->root, MARKER) < 0)
		return dise_cli_error(-ENAMETOOLONG, "system root");
	if ((r = dise_cli_shim_entry(pl->root, shim_opt, pl->entry, sizeof(pl->entry))) != 0)
		return r;
	if (strpbrk(pl->entry, SEPS))
		return dise_cli_error(0, "the shim's path '%s' has a space or a colon: /etc/ld.so.preload cannot name it", pl->entry);
	r = dise_cli_read_small(pl->path, pl->text, sizeof(pl->text), &pl->st);
	pl->exists = r >= 0;
	if (r == -ENOENT) {
		pl->text[0] = '\0';
		return 0;
	}
	if (r == -EMLINK)
		return dise_cli_error(0, "'%s' is a symbolic link: edit it by hand", pl->path);
	if (r == -EINVAL)
		return dise_cli_error(0, "'%s' is not a regular file", pl->path);
	return r < 0 ? dise_cli_error(r, "cannot read '%s'", pl->path) : 0;
}

/* The shim's file as ld.so will use it: the entry as seen from the root. */
static const char *shim_file(const struct preload *pl, char *buf, size_t size)
{
	if (dise_cli_syspath(buf, size, pl->root, pl->entry) < 0)
		return pl->entry;
	return buf;
}

static int mark_created(const struct preload *pl)
{
	char dir[PATH_MAX + 64];
	FILE *f;
	int r;

	if (dise_cli_syspath(dir, sizeof(dir), pl->root, "/var/lib/dise") < 0)
		return -ENAMETOOLONG;
	if ((r = dise_cli_make_dirs(dir)) < 0)
		return r;
	f = fopen(pl->marker, "we");
	if (!f)
		return -errno;
	fprintf(f, "%s\n", pl->entry);
	return fclose(f) ? -errno : 0;
}

static int enable(struct preload *pl)
{
	char file[PATH_MAX + 64], text[sizeof(pl->text) + PATH_MAX + 2];
	size_t len = strlen(pl->text);
	int r;

	if (names(pl->text, pl->entry)) {
		dise_cli_print(stdout, "already enabled: '%s' names %s\n", pl->path, pl->entry);
		return 0;
	}
	if ((r = dise_cli_shim_selftest(shim_file(pl, file, sizeof(file)))) != 0)
		return dise_cli_error(0, "'%s' left as it was", pl->path);
	/* one line more; after a last line with no newline, the entry's line has none either (disable undoes either exactly) */
	if (len && pl->text[len - 1] != '\n')
		snprintf(text, sizeof(text), "%s\n%s", pl->text, pl->entry);
	else
		snprintf(text, sizeof(text), "%s%s\n", pl->text, pl->entry);
	if (!pl->exists && (r = mark_created(pl)) < 0)
		return dise_cli_error(r, "cannot write '%s'", pl->marker);
	r = dise_cli_replace(pl->path, text, strlen(text), pl->exists ? pl->st.st_mode & 07777 : 0644,
			     pl->exists ? pl->st.st_uid : 0, pl->exists ? pl->st.st_gid : 0);
	if (r < 0) {
		if (!pl->exists)
			unlink(pl->marker);
		return dise_cli_error(r, "cannot write '%s'", pl->path);
	}
	dise_cli_print(stdout, "enabled: '%s' names %s; programs started from now on are watched\n", pl->path, pl->entry);
	dise_cli_print(stdout, "their records go to each user's ring: run a collector per user (dise-collectord@UID.service)\n");
	return 0;
}

static int disable(struct preload *pl)
{
	char text[sizeof(pl->text)];
	int r, created = access(pl->marker, F_OK) == 0;

	if (!names(pl->text, pl->entry)) {
		dise_cli_print(stdout, "not enabled: '%s' does not name %s\n", pl->path, pl->entry);
		return 0;
	}
	drop_entry(pl->text, pl->entry, text, sizeof(text));
	if (created && !text[strspn(text, SEPS)])
		r = unlink(pl->path) < 0 ? -errno : 0; /* dise made it and nobody added to it: gone, as before */
	else
		r = dise_cli_replace(pl->path, text, strlen(text), pl->st.st_mode & 07777, pl->st.st_uid, pl->st.st_gid);
	if (r < 0)
		return dise_cli_error(r, "cannot write '%s'", pl->path);
	if (created) {
		char dir[sizeof(pl->marker)];

		unlink(pl->marker);
		snprintf(dir, sizeof(dir), "%s", pl->marker);
		rmdir(dirname(dir)); /* /var/lib/dise, when nothing else is in it */
	}
	dise_cli_print(stdout, "disabled: '%s' no longer names %s\n", pl->path, pl->entry);
	return 0;
}

static int status(const struct preload *pl)
{
	char file[PATH_MAX + 64];
	int on = names(pl->text, pl->entry);

	dise_cli_print(stdout, "%s: '%s' %s %s\n", on ? "enabled" : "disabled", pl->path,
		       on ? "names" : pl->exists ? "does not name" : "does not exist, nor name", pl->entry);
	if (on && access(shim_file(pl, file, sizeof(file)), R_OK) != 0)
		dise_cli_print(stdout, "warning: %s is missing: every program starting prints an error (dise preload disable)\n",
			       pl->entry);
	return on ? 0 : 3;
}

int dise_cli_preload(int argc, char **argv, const struct dise_cli_cmd *cmd)
{
	enum { OPT_ROOT = DISE_CLI_OPT_FIRST, OPT_SHIM };
	static const struct option opts[] = { { "root", required_argument, NULL, OPT_ROOT },
					      { "shim", required_argument, NULL, OPT_SHIM },
					      DISE_CLI_OPT_END };
	static struct preload pl;
	const char *root = NULL, *shim = NULL, *verb;
	char **ops;
	int c, r;

	while ((c = dise_cli_getopt(argc, argv, opts, DISE_CLI_PERMUTE, cmd)) != -1)
		if (c == OPT_ROOT)
			root = optarg;
		else if (c == OPT_SHIM)
			shim = optarg;
	ops = dise_cli_operands(argc, argv, 1, 1, cmd);
	verb = ops[0];
	if (strcmp(verb, "enable") && strcmp(verb, "disable") && strcmp(verb, "status"))
		dise_cli_usage_error(cmd, "unknown preload command '%s' (enable, disable, status)", verb);
	if ((r = load(&pl, root, shim)) != 0)
		return r;
	if (!strcmp(verb, "enable"))
		return enable(&pl);
	if (!strcmp(verb, "disable"))
		return disable(&pl);
	return status(&pl);
}
