/* SPDX-License-Identifier: MIT */
/*
 * A routed #! script keeps its own name: `$0`, `sys.argv[0]`, `__file__`
 * are the path the caller ran, and only the bytes the interpreter reads
 * are the routed version's.
 *
 * The kernel builds a script's argv as [interpreter, optional argument,
 * the path it was given, arguments...], and the interpreter takes `$0`
 * from that path, then opens it to read the script. Executing the routed
 * copy would make `$0` the copy's name; /proc/self/fd/N would be worse.
 * So for a script, routing does not execute anything: in the interpreter
 * (this process, before its main ran), every read-only open of exactly
 * that path string opens the routed copy instead, when
 *   - the interpreter is one known to read its script itself
 *     (dise_route_script_reader in dise/ring.h: sh, dash, bash, python3,
 *     perl; not env, which executes another interpreter that would read
 *     the original), and
 *   - the copy's #! line is the original's (same interpreter, same
 *     argument);
 * each redirected open checks that the path still names the file that was
 * routed and that what it opened is the copy the collector published
 * (dev, ino, size, mtime), else it opens what was asked. Everywhere else
 * routing executes the copy, as before (shim.c), and `dise health` says
 * that `$0` is then the copy's name.
 *
 * open, open64, fopen and fopen64 are interposed (the calls interpreters
 * make to read their script); unarmed, each costs one load and calls
 * glibc's function under its exported internal name (__open, _IO_fopen):
 * no dlsym, no change to what the call does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

extern int __open(const char *, int, ...);
extern FILE *_IO_fopen(const char *, const char *);

static struct {
	const char *from;		/* the script path as executed (AT_EXECFN) */
	struct dise_file_id from_id;	/* what it named then */
	struct dise_file_id to_id;	/* the published copy */
	char to[DISE_PATH_MAX];
} redirect;

static int same_id(const struct stat *st, const struct dise_file_id *id)
{
	return (uint64_t)st->st_dev == id->dev && (uint64_t)st->st_ino == id->ino && (uint64_t)st->st_size == id->size &&
	       (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec == id->mtime_ns;
}

void dise__script_redirect_arm(const char *from, const struct dise_file_id *from_id, const char *to,
			       const struct dise_file_id *to_id)
{
	size_t n = strlen(to);

	if (n >= sizeof(redirect.to))
		return;
	memcpy(redirect.to, to, n + 1);
	redirect.from = from;
	redirect.from_id = *from_id;
	redirect.to_id = *to_id;
	atomic_store_explicit(&dise__shim.script_redirect, 1, memory_order_release);
}

const char *dise__script_redirect_to(void)
{
	return redirect.to;
}

/* The routed copy opened with flags when path is the routed script, else -1. errno untouched. */
static int redirected(const char *path, int flags)
{
	struct stat st;
	int saved = errno, fd = -1;

	if (!path || (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | O_DIRECTORY)) ||
	    strcmp(path, redirect.from) != 0)
		return -1;
	if (stat(path, &st) == 0 && same_id(&st, &redirect.from_id)) {
		fd = __open(redirect.to, flags); /* the store's copy is a link: what counts is what it opened */
		if (fd >= 0 && (fstat(fd, &st) != 0 || !same_id(&st, &redirect.to_id))) {
			close(fd);
			fd = -1;
		}
	}
	errno = saved;
	return fd;
}

static int armed(void)
{
	return __builtin_expect(atomic_load_explicit(&dise__shim.script_redirect, memory_order_relaxed), 0);
}

static int do_open(const char *path, int flags, va_list ap)
{
	mode_t mode = 0;
	int fd;

	if (__OPEN_NEEDS_MODE(flags))
		mode = va_arg(ap, mode_t);
	if (armed() && (fd = redirected(path, flags)) >= 0)
		return fd;
	return __open(path, flags, mode);
}

DISE_EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = do_open(path, flags, ap);
	va_end(ap);
	return fd;
}

DISE_EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = do_open(path, flags, ap);
	va_end(ap);
	return fd;
}

static FILE *do_fopen(const char *path, const char *mode)
{
	if (armed() && mode && mode[0] == 'r' && !strchr(mode, '+')) {
		int fd = redirected(path, O_RDONLY | (strchr(mode, 'e') ? O_CLOEXEC : 0));

		if (fd >= 0) {
			int saved = errno;
			FILE *f = fdopen(fd, mode);

			if (f)
				return f;
			close(fd);
			errno = saved;
		}
	}
	return _IO_fopen(path, mode);
}

DISE_EXPORT FILE *fopen(const char *path, const char *mode)
{
	return do_fopen(path, mode);
}

DISE_EXPORT FILE *fopen64(const char *path, const char *mode)
{
	return do_fopen(path, mode);
}
