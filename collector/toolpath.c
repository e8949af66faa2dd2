/* SPDX-License-Identifier: MIT */
/*
 * A tool is a lineage, named by the path it is invoked at. Two products
 * with one file name (/opt/alpha/bin/server, /opt/beta/bin/server) are two
 * tools; a symbolic link is its own path (what the operator typed), and
 * dise.json "tools": {"app": {"paths": [globs]}} or `dise tool add` group
 * several paths into one tool (resolve.c).
 *
 * An interpreter run (`sh script`, `python3 script.py`, the interpreter a
 * `#!/usr/bin/env python3` line starts) belongs to its script: the first
 * operand that is not an option, when it is an existing file. `python3 -c`,
 * `sh -c`, `python3 -m mod`, `perl -e` have no script: the interpreter
 * stays the tool.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <string.h>
#include <unistd.h>

#include "toolpath.h"

int dise_path_absolute(const char *path, const char *cwd, char *out, size_t size)
{
	char buf[8192];
	size_t n = 0, lc = 0, lp;
	const char *p;

	if (!path || !path[0])
		return -EINVAL;
	if (path[0] != '/' && (!cwd || cwd[0] != '/'))
		return -EINVAL;
	/* cwd "/" path, or path: joined by hand (snprintf was ~6% of start_row()'s samples) */
	if (path[0] != '/')
		lc = strlen(cwd) + 1;
	lp = strlen(path);
	if (lc + lp >= sizeof(buf))
		return -ENAMETOOLONG;
	if (lc) {
		memcpy(buf, cwd, lc - 1);
		buf[lc - 1] = '/';
	}
	memcpy(buf + lc, path, lp + 1);
	if (size < 2)
		return -ENAMETOOLONG;
	/* components one by one: "" and "." dropped, ".." takes the last one back */
	for (p = buf; *p;) {
		const char *e;
		size_t len;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchrnul(p, '/');
		len = (size_t)(e - p);
		if (len == 1 && p[0] == '.') {
			/* nothing */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--; /* the slash */
		} else {
			if (n + 1 + len + 1 > size)
				return -ENAMETOOLONG;
			out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p = e;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return 0;
}

enum family { NONE, SHELL, PYTHON, PERL, OTHER };

static enum family family_of(const char *name)
{
	static const char *const shells[] = { "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash" };
	static const char *const others[] = { "ruby", "tclsh", "lua", "node", "php" };
	const char *b = strrchr(name, '/');
	size_t i;

	b = b ? b + 1 : name;
	for (i = 0; i < sizeof(shells) / sizeof(shells[0]); i++)
		if (!strcmp(b, shells[i]))
			return SHELL;
	if (!fnmatch("python", b, 0) || !fnmatch("python[0-9]", b, 0) || !fnmatch("python[0-9].[0-9]*", b, 0))
		return PYTHON;
	if (!strcmp(b, "perl") || !fnmatch("perl5.[0-9]*", b, 0))
		return PERL;
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		if (!strcmp(b, others[i]))
			return OTHER;
	return NONE;
}

int dise_is_interpreter(const char *name)
{
	return name && family_of(name) != NONE;
}

int dise_is_build_probe(const char *path)
{
	static const char *const probes[] = { "conftest", "conftest.exe", "cmTC_*" };
	const char *base = path ? strrchr(path, '/') : NULL;
	size_t i;

	base = base ? base + 1 : path;
	for (i = 0; base && i < sizeof(probes) / sizeof(probes[0]); i++)
		if (fnmatch(probes[i], base, 0) == 0)
			return 1;
	return 0;
}

/* Whether option o (one word of argv, "-x…") makes the program inline (no script), and whether it takes the next word. */
static int inline_program(enum family f, const char *o, int *takes_next)
{
	size_t i;

	*takes_next = 0;
	if (o[1] == '-') { /* long options */
		if (f == SHELL && (!strcmp(o, "--rcfile") || !strcmp(o, "--init-file")))
			*takes_next = 1;
		return f == OTHER && (!strcmp(o, "--eval") || !strcmp(o, "--print"));
	}
	/* clustered short options: -xc CMD is -x -c */
	for (i = 1; o[i]; i++) {
		char c = o[i];

		switch (f) {
		case SHELL:
			if (c == 'c' || c == 's')
				return 1;
			if ((c == 'o' || c == 'O') && !o[i + 1])
				*takes_next = 1;
			break;
		case PYTHON:
			if (c == 'c' || c == 'm')
				return 1;
			if ((c == 'W' || c == 'X') ) {
				*takes_next = !o[i + 1];
				return 0; /* the rest of the word is the option's value */
			}
			break;
		case PERL:
			if (c == 'e' || c == 'E')
				return 1;
			if (strchr("IMmxdDlC0i", c))
				return 0; /* perl's valued options take the rest of the word */
			break;
		case OTHER:
			if (c == 'e' || c == 'p')
				return 1;
			if ((c == 'r' || c == 'I') && !o[i + 1])
				*takes_next = 1;
			break;
		case NONE:
			return 1;
		}
	}
	return 0;
}

/*
 * An executable given to an interpreter (`sh /usr/bin/ls`) is no script of
 * it: the run fails as the interpreter's, and must not count against the
 * program at that path.
 */
static int is_elf(const char *path)
{
	char b[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), elf;

	if (fd < 0)
		return 0;
	elf = read(fd, b, sizeof(b)) == (ssize_t)sizeof(b) && !memcmp(b, "\177ELF", 4);
	close(fd);
	return elf;
}

int dise_interpreter_operand(const char *interp, const char *argv, unsigned count, const char *cwd, char *out,
			     size_t size)
{
	enum family f = interp ? family_of(interp) : NONE;
	const char *a = argv;
	unsigned i;
	int skip = 0;

	if (f == NONE || !argv || count < 2)
		return 0;
	a += strlen(a) + 1; /* argv[0] */
	for (i = 1; i < count; i++, a += strlen(a) + 1) {
		int takes;

		if (skip) {
			skip = 0;
			continue;
		}
		if (!strcmp(a, "--")) {
			if (i + 1 >= count)
				return 0;
			a += strlen(a) + 1;
			break;
		}
		if (a[0] == '-' || (a[0] == '+' && f == SHELL && a[1])) {
			if (!a[1]) /* "-": the program on stdin */
				return 0;
			if (inline_program(f, a, &takes))
				return 0;
			skip = takes;
			continue;
		}
		break;
	}
	if (i >= count)
		return 0;
	return dise_path_absolute(a, cwd, out, size) == 0;
}

int dise_script_file(const char *path, struct stat *st)
{
	return stat(path, st) == 0 && S_ISREG(st->st_mode) && !is_elf(path);
}

