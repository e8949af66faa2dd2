/* SPDX-License-Identifier: MIT */
/*
 * Chaining to the previous core_pattern (chain.h), as fs/coredump.c would
 * have done it:
 *   - a pipe handler gets argv split on the template's spaces, each piece
 *     expanded on its own (Linux 5.3 on), the kernel's helper environment,
 *     and RLIMIT_CORE 1 (the kernel's guard against a handler that dumps);
 *   - a file is opened O_CREAT | O_NOFOLLOW (O_EXCL for a suid-safe dump)
 *     with mode 0600 as the dumping process's filesystem identity, refused
 *     unless it is a regular file of that identity with one link, then
 *     emptied; whole zero pages become holes, as the kernel's dump_skip
 *     makes them, and it stops at RLIMIT_CORE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chain.h"

#define PAGE 4096u
#define PIPE_ARGS_MAX 64

static const char *spec(const struct dise_core_args *a, char c)
{
	switch (c) {
	case 'p': return a->p;
	case 'P': return a->P;
	case 'i': return a->i;
	case 'I': return a->I;
	case 'u': return a->u;
	case 'g': return a->g;
	case 'd': return a->d;
	case 's': return a->s;
	case 't': return a->t;
	case 'h': return a->h;
	case 'e': return a->e;
	case 'f': return a->f;
	case 'E': return a->E;
	case 'c': return a->c;
	case 'C': return a->C;
	case 'F': return a->F;
	default: return NULL; /* the kernel drops an unknown specifier */
	}
}

int dise_core_expand(const char *tmpl, const struct dise_core_args *a, int ispipe, int uses_pid, char *out,
		     size_t size)
{
	size_t n = 0;
	int has_pid = 0;
	const char *t;

	for (t = tmpl; *t; t++) {
		const char *v;
		char c = *t;

		if (c != '%' || !t[1]) {
			if (n + 1 >= size)
				return -ENAMETOOLONG;
			out[n++] = c;
			continue;
		}
		c = *++t;
		if (c == '%') {
			if (n + 1 >= size)
				return -ENAMETOOLONG;
			out[n++] = '%';
			continue;
		}
		has_pid |= c == 'p';
		for (v = spec(a, c); v && *v; v++) {
			if (n + 1 >= size)
				return -ENAMETOOLONG;
			/* cn_esc_printf: a name put in a file path cannot add directories */
			out[n++] = !ispipe && *v == '/' && (c == 'h' || c == 'e' || c == 'f') ? '!' : *v;
		}
	}
	out[n] = '\0';
	if (!ispipe && uses_pid && !has_pid) {
		if (n + 1 + strlen(a->p) >= size)
			return -ENAMETOOLONG;
		snprintf(out + n, size - n, ".%s", a->p);
	}
	return 0;
}

/* The template split on spaces, each word expanded: argv in buf (NUL-separated), pointers in v. */
static int pipe_argv(const char *pattern, const struct dise_core_args *a, char *buf, size_t size, char **v)
{
	char word[PAGE];
	size_t used = 0, k = 0;
	const char *p = pattern;

	while (*p) {
		size_t len = strcspn(p, " ");

		if (len) {
			if (len >= sizeof(word) || k + 1 >= PIPE_ARGS_MAX)
				return -E2BIG;
			memcpy(word, p, len);
			word[len] = '\0';
			if (dise_core_expand(word, a, 1, 0, buf + used, size - used) < 0)
				return -E2BIG;
			v[k++] = buf + used;
			used += strlen(buf + used) + 1;
		}
		p += len;
		p += strspn(p, " ");
	}
	v[k] = NULL;
	return k ? 0 : -EINVAL;
}

int dise_chain_pipe(struct dise_chain *ch, const char *pattern, const struct dise_core_args *a)
{
	static char *const env[] = {"HOME=/", "TERM=linux", "PATH=/sbin:/bin:/usr/sbin:/usr/bin", NULL};
	char *buf = malloc(PIPE_ARGS_MAX * PAGE), *v[PIPE_ARGS_MAX];
	int fds[2], r;
	pid_t pid;

	memset(ch, 0, sizeof(*ch));
	ch->fd = -1;
	if (!buf)
		return -ENOMEM;
	if ((r = pipe_argv(pattern, a, buf, PIPE_ARGS_MAX * PAGE, v)) < 0)
		goto out;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	if ((pid = fork()) < 0) {
		r = -errno;
		close(fds[0]);
		close(fds[1]);
		goto out;
	}
	if (pid == 0) {
		struct rlimit one = {1, 1};

		dup2(fds[0], 0);
		signal(SIGPIPE, SIG_DFL);
		setrlimit(RLIMIT_CORE, &one);
		if (chdir("/") == 0)
			execve(v[0], v, env);
		_exit(127);
	}
	close(fds[0]);
	ch->fd = fds[1];
	ch->child = pid;
out:
	free(buf);
	return r;
}

static int open_in(int cwdfd, int rootfd, const char *path, int flags)
{
	struct open_how how = {.flags = (uint64_t)flags, .mode = 0600, .resolve = RESOLVE_IN_ROOT};

	if (path[0] != '/' || rootfd == AT_FDCWD) /* AT_FDCWD: the process's root is not known, ours is used */
		return openat(path[0] != '/' ? cwdfd : AT_FDCWD, path, flags, 0600);
	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

int dise_chain_file(struct dise_chain *ch, const char *path, int cwdfd, int rootfd, uint64_t limit, int excl)
{
	struct stat st;
	int fd;

	memset(ch, 0, sizeof(*ch));
	ch->fd = -1;
	ch->is_file = 1;
	ch->limit = limit;
	if (limit < PAGE) /* binfmt_elf's min_coredump */
		return -EFBIG;
	fd = open_in(cwdfd, rootfd, path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_LARGEFILE | (excl ? O_EXCL : 0));
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1 ||
	    ftruncate(fd, 0) < 0) {
		close(fd);
		return -EPERM;
	}
	ch->fd = fd;
	return 0;
}

static int all_zero(const unsigned char *p, size_t n)
{
	return n && p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

static void write_all(struct dise_chain *ch, const unsigned char *p, size_t n)
{
	while (n && !ch->failed) {
		ssize_t w = write(ch->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ch->failed = 1; /* a handler that stopped reading, a full disk: the rest is dropped */
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

void dise_chain_write(struct dise_chain *ch, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	if (ch->fd < 0 || ch->failed)
		return;
	if (!ch->is_file) {
		write_all(ch, p, n);
		return;
	}
	if (n > ch->limit - ch->written)
		n = (size_t)(ch->limit - ch->written);
	while (n && !ch->failed) {
		size_t k = PAGE - (size_t)(ch->written % PAGE);

		if (k > n)
			k = n;
		if (k == PAGE && all_zero(p, k)) {
			if (lseek(ch->fd, PAGE, SEEK_CUR) < 0)
				ch->failed = 1;
		} else {
			write_all(ch, p, k);
		}
		ch->written += k;
		p += k;
		n -= k;
	}
}

int dise_chain_close(struct dise_chain *ch)
{
	int status = 0;

	if (ch->fd >= 0) {
		if (ch->is_file && ftruncate(ch->fd, (off_t)ch->written) < 0) /* a hole at the end has no bytes yet */
			ch->failed = 1;
		close(ch->fd);
	}
	ch->fd = -1;
	if (ch->child > 0) {
		while (waitpid(ch->child, &status, 0) < 0 && errno == EINTR)
			;
		ch->child = 0;
	}
	return status;
}
