/* SPDX-License-Identifier: MIT */
/*
 * The environment a child is executed with: whether the shim follows it
 * there, and never an ld.so error because of dise.
 *
 * A child stays watched when a program hands exec or posix_spawn an
 * environment that merely lost LD_PRELOAD (and DISE_RING) on the way: one
 * it derived from its own, keeping most of its variables. A child whose
 * environment was cleared on purpose (`env -i`, `bwrap --clearenv`, a
 * launcher that builds a fresh one) stays unwatched, as asked. The test:
 * the new environment is derived when it keeps, byte for byte, at least
 * half (and at least one) of the variables this process started with,
 * LD_PRELOAD and DISE_* not counted. Compared with the environment the
 * process started with, not with `environ` at exec time: `env -i` and
 * bwrap empty `environ` itself before they call execvp.
 *
 * And ld.so must never complain because of dise: a shim named in the
 * child's LD_PRELOAD that cannot be opened from here (a sandbox or a chroot
 * that does not show its path) is taken out of the child's LD_PRELOAD, and
 * the shim is added to an environment only when it can be opened. The exec
 * runs in this process's mount namespace and root, so what this process
 * sees at that moment is what the child's loader will see.
 *
 * Runs in vfork children and before exec: no heap, stack buffers only, errno
 * kept (set by nothing on the usual path: inline system calls, loops).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "dise/rawsys.h"

#define PRELOAD_KEY "LD_PRELOAD="
#define PRELOAD_KEY_LEN (sizeof(PRELOAD_KEY) - 1)

/* LD_PRELOAD and DISE_*: the shim's own variables, never evidence of where an environment came from. */
static int ours(const char *entry)
{
	return dise__has_prefix(entry, PRELOAD_KEY) || dise__has_prefix(entry, "DISE_");
}

/* ld.so splits LD_PRELOAD at spaces and colons. */
static int is_sep(char c)
{
	return c == ' ' || c == ':';
}

/*
 * Loops, not memmem, memchr, strstr: this runs in fork children before
 * exec, and a libc function the parent never called is bound lazily there,
 * in every child, walking the loader's tables in pages a fork does not copy.
 */
static int has_char(const char *s, size_t len, char c)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == c)
			return 1;
	return 0;
}

static int names_shim(const char *tok, size_t len)
{
	static const char name[] = "libdise_shim";
	size_t n = sizeof(name) - 1, i, k;

	for (i = 0; i + n <= len; i++) {
		for (k = 0; k < n && tok[i + k] == name[k]; k++)
			;
		if (k == n)
			return 1;
	}
	return 0;
}

/* strlen without a call into libc (see has_char) */
static size_t len_of(const char *s)
{
	return dise_strnlen(s, (size_t)-1);
}

/*
 * faccessat(AT_EACCESS) as glibc makes it, by an inline system call (no
 * page of libc's syscall() in a fork child, errno untouched: rawsys.h);
 * glibc's faccessat where the kernel has no faccessat2.
 */
static int can_read(const char *path)
{
	int saved, ok;
#ifdef SYS_faccessat2
	long r = dise_sys6(SYS_faccessat2, AT_FDCWD, (long)path, R_OK, AT_EACCESS, 0, 0);

	if (r != -ENOSYS)
		return r == 0;
#endif
	saved = errno;
	ok = faccessat(AT_FDCWD, path, R_OK, AT_EACCESS) == 0;
	errno = saved;
	return ok;
}

/* Whether the loader of a child executed now could open the library at tok (a path, or a name it searches). */
static int loadable(const char *tok, size_t len)
{
	char path[DISE_ENV_VALUE_MAX];

	if (!has_char(tok, len, '/') || has_char(tok, len, '$') || len >= sizeof(path))
		return 1; /* searched in the library path, or expanded by ld.so: not ours to judge */
	if (!tok[len])
		return can_read(tok); /* the value's last token (LD_PRELOAD=<shim> alone): no copy */
	memcpy(path, tok, len);
	path[len] = '\0';
	return can_read(path);
}

/* Whether a token of value names the shim at a path that cannot be opened from here. */
static int has_unloadable_shim(const char *value)
{
	const char *p = value;

	while (*p) {
		size_t len;

		while (is_sep(*p))
			p++;
		for (len = 0; p[len] && !is_sep(p[len]); len++)
			;
		if (len && names_shim(p, len) && !loadable(p, len))
			return 1;
		p += len;
	}
	return 0;
}

static int names_shim_anywhere(const char *value)
{
	return names_shim(value, len_of(value));
}

/* Whether envp[0..n) is equal to entry somewhere, looking from *at on (copies keep their order). */
static int find_entry(char *const envp[], long n, const char *entry, long *at)
{
	long k;

	for (k = 0; k < n; k++) {
		long m = (*at + k) % n;

		if (envp[m] == entry || strcmp(envp[m], entry) == 0) {
			*at = m + 1;
			return 1;
		}
	}
	return 0;
}

/* The test in the header: envp (n entries) keeps at least half, and at least one, of our starting variables. */
static int derived(char *const envp[], long n)
{
	char **start = dise__shim.envp0;
	long total = 0, seen = 0, kept = 0, at = 0, i;

	if (!start || n <= 0)
		return 0;
	for (i = 0; start[i] && i < DISE_ENV_MAX_ENTRIES; i++)
		total += !ours(start[i]);
	for (i = 0; start[i] && i < DISE_ENV_MAX_ENTRIES; i++) {
		if (ours(start[i]))
			continue;
		seen++;
		kept += find_entry(envp, n, start[i], &at);
		if (kept > 0 && 2 * kept >= total)
			return 1;
		if (2 * (kept + total - seen) < total)
			return 0; /* even keeping all the rest would not be half */
	}
	return 0;
}

static int plan(char *const envp[], struct dise__env_plan *p)
{
	const char *pre, *self;
	const char *theirs = NULL;
	int disable = 0, ring = 0;
	long n;

	memset(p, 0, sizeof(*p));
	p->preload = -1;
	if (!envp)
		return 0;
	for (n = 0; envp[n]; n++) {
		if (n >= DISE_ENV_MAX_ENTRIES)
			return 0;
		if (dise__has_prefix(envp[n], "DISE_DISABLE=") && envp[n][13] && strcmp(envp[n] + 13, "0") != 0)
			disable = 1;
		else if (dise__has_prefix(envp[n], "DISE_RING="))
			ring = 1;
		else if (dise__has_prefix(envp[n], PRELOAD_KEY))
			p->preload = n; /* ld.so takes the last one */
	}
	p->n = n;
	if (p->preload >= 0)
		theirs = envp[p->preload] + PRELOAD_KEY_LEN;
	if (theirs && names_shim_anywhere(theirs)) {
		if (has_unloadable_shim(theirs)) {
			p->vlen = len_of(envp[p->preload]) + 1; /* rewritten without it: never longer */
			return p->vlen <= DISE_ENV_VALUE_MAX;
		}
		p->add_ring = !disable && !ring && dise__shim.ring_env && derived(envp, n);
		return p->add_ring;
	}
	/* our own path only now: a fork child looking it up (dladdr) pays the loader's pages again */
	if (disable || !derived(envp, n) || !(pre = dise__preload_env()))
		return 0;
	self = pre + PRELOAD_KEY_LEN;
	if (!loadable(self, len_of(self)))
		return 0;
	p->vlen = (theirs ? len_of(envp[p->preload]) + 1 : PRELOAD_KEY_LEN) + len_of(self) + 1;
	if (p->vlen > DISE_ENV_VALUE_MAX)
		return 0;
	p->add_ring = !ring && dise__shim.ring_env;
	return 1;
}

/*
 * errno is not saved here: nothing on these paths sets it but glibc's
 * faccessat and the shim's path lookup, which keep it themselves (a save
 * here was a page of libc, __errno_location, in every watched fork child).
 */
int dise__env_plan(char *const envp[], struct dise__env_plan *ret)
{
	return plan(envp, ret);
}

/* "LD_PRELOAD=" and the tokens of value that are not an unloadable shim, into val; 0 when none is left. */
static size_t strip_shim(const char *value, char *val)
{
	size_t out = PRELOAD_KEY_LEN, kept = 0;
	const char *p = value;

	memcpy(val, PRELOAD_KEY, PRELOAD_KEY_LEN);
	while (*p) {
		size_t len;

		while (is_sep(*p))
			p++;
		for (len = 0; p[len] && !is_sep(p[len]); len++)
			;
		if (len && !(names_shim(p, len) && !loadable(p, len))) {
			if (kept++)
				val[out++] = ':';
			memcpy(val + out, p, len);
			out += len;
		}
		p += len;
	}
	val[out] = '\0';
	return kept;
}

void dise__env_build(char *const envp[], const struct dise__env_plan *p, char **copy, char *val)
{
	int drop = 0;
	long i, k = 0;

	if (p->vlen && p->preload >= 0 && names_shim_anywhere(envp[p->preload]))
		drop = strip_shim(envp[p->preload] + PRELOAD_KEY_LEN, val) == 0;
	else if (p->vlen && p->preload >= 0) /* LD_PRELOAD=<theirs>:<shim> */
		strcpy(stpcpy(stpcpy(val, envp[p->preload]), ":"), dise__preload_env() + PRELOAD_KEY_LEN);
	else if (p->vlen)
		strcpy(val, dise__preload_env());
	for (i = 0; i < p->n; i++)
		if (i != p->preload || !p->vlen)
			copy[k++] = envp[i];
		else if (!drop)
			copy[k++] = val;
	if (p->vlen && p->preload < 0)
		copy[k++] = val;
	if (p->add_ring)
		copy[k++] = (char *)dise__shim.ring_env;
	copy[k] = NULL;
}
