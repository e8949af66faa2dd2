/* SPDX-License-Identifier: MIT */
/*
 * What `dise preload` and `dise service` share: the system root they edit
 * (--root DIR, else $DISE_SYSROOT, else /: tests edit a scratch root, never
 * the real /etc), a small file read whole, a file replaced atomically (a
 * temporary file beside it, fsync, rename, fsync of the directory: a
 * reader sees the old content or the new, never a part), and the shim's
 * self-test, which must pass before the shim is named anywhere a whole host
 * or a service would load it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "dise/ring.h"

int dise_cli_sysroot(const char *opt, char *buf, size_t size)
{
	const char *root = opt ? opt : getenv("DISE_SYSROOT");
	size_t n;

	if (!root || !root[0])
		root = "/";
	if (root[0] != '/')
		return dise_cli_error(0, "the system root must be an absolute path: '%s'", root);
	n = strlen(root);
	while (n > 1 && root[n - 1] == '/') /* "/" stays "/", "/tmp/r/" is "/tmp/r" */
		n--;
	if (n >= size)
		return dise_cli_error(-ENAMETOOLONG, "system root");
	memcpy(buf, root, n);
	buf[n] = '\0';
	return 0;
}

int dise_cli_syspath(char *buf, size_t size, const char *root, const char *path)
{
	int n = snprintf(buf, size, "%s%s", strcmp(root, "/") ? root : "", path);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int dise_cli_shim_entry(const char *root, const char *shim_opt, char *buf, size_t size)
{
	char shim[PATH_MAX], tried[PATH_MAX + 64] = "";
	size_t rl = strcmp(root, "/") ? strlen(root) : 0;

	if (shim_opt) {
		if (!realpath(shim_opt, shim))
			return dise_cli_error(-errno, "the shim '%s'", shim_opt);
	} else if (dise_cli_shim_path(shim, sizeof(shim), tried, sizeof(tried)) < 0) {
		return dise_cli_error(0, "the shim is not where it should be: %s", tried);
	}
	/* the root's programs see the shim at its path inside the root */
	if (rl && (strncmp(shim, root, rl) || shim[rl] != '/'))
		return dise_cli_error(0, "the shim '%s' is not inside the root '%s': install dise there, or name one there with --shim",
				      shim, root);
	if ((size_t)snprintf(buf, size, "%s", shim + rl) >= size)
		return dise_cli_error(-ENAMETOOLONG, "the shim's path");
	return 0;
}

int dise_cli_read_small(const char *path, char *buf, size_t size, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK), err;
	ssize_t n;
	size_t len = 0;

	if (fd < 0)
		return errno == ELOOP ? -EMLINK : -errno; /* ELOOP from O_NOFOLLOW: a symbolic link */
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		err = fstat(fd, st) < 0 ? -errno : -EINVAL; /* -EINVAL: not a regular file */
		close(fd);
		return err;
	}
	while ((n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	if (len == size - 1)
		return -EFBIG;
	buf[len] = '\0';
	return (int)len;
}

int dise_cli_replace(const char *path, const char *data, size_t len, unsigned mode, unsigned uid, unsigned gid)
{
	char tmp[4200], dir[4200];
	int fd, dfd, err = 0;
	size_t off = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.dise-XXXXXX", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)
		err = -errno;
	while (!err && off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno != EINTR)
			err = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int dise_cli_make_dirs(char *dir)
{
	char *slash;
	int made;

	if (mkdir(dir, 0755) == 0)
		return 1;
	if (errno == EEXIST)
		return 0;
	if (errno != ENOENT || !(slash = strrchr(dir, '/')) || slash == dir)
		return -errno;
	*slash = '\0';
	made = dise_cli_make_dirs(dir);
	*slash = '/';
	if (made < 0)
		return made;
	return mkdir(dir, 0755) == 0 ? 1 : -errno;
}

/* The shim's file: a regular ELF file that only root can change, in directories only root can change. */
static int check_shim_file(const char *shim)
{
	char dir[4200], magic[4];
	struct stat st;
	int fd = open(shim, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return dise_cli_error(-errno, "the shim '%s'", shim);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || pread(fd, magic, 4, 0) != 4 || memcmp(magic, "\177ELF", 4)) {
		close(fd);
		return dise_cli_error(0, "the shim '%s' is not an ELF shared object", shim);
	}
	close(fd);
	snprintf(dir, sizeof(dir), "%s", shim);
	for (;;) {
		if (stat(dir, &st) < 0)
			return dise_cli_error(-errno, "'%s'", dir);
		/* a shim every program loads, changeable by someone else: that someone would run code as everyone */
		if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
		    ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX))))
			return dise_cli_error(0, "refusing the shim: '%s' can be changed by another user (owner %u, mode %o)",
					      dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		if (!strcmp(dir, "/"))
			return 0;
		memmove(dir, dirname(dir), strlen(dirname(dir)) + 1);
	}
}

extern char **environ;

/* Runs `/bin/sh -c 'exit 7'` with the shim preloaded and its ring at ring: 0 when it exited 7 and said nothing. */
static int run_preloaded(const char *shim, const char *ring, const char *errfile)
{
	char preload[4200], ringenv[4200];
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)"exit 7", NULL };
	char *envp[] = { preload, ringenv, (char *)"PATH=/usr/bin:/bin", NULL };
	posix_spawn_file_actions_t fa;
	struct stat st;
	pid_t pid;
	int r, status;

	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", shim);
	snprintf(ringenv, sizeof(ringenv), "DISE_RING=%s", ring);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 2, errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	r = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (r)
		return dise_cli_error(-r, "self-test: cannot run /bin/sh");
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return dise_cli_error(-errno, "self-test: waitpid");
	if (stat(errfile, &st) == 0 && st.st_size > 0) { /* ld.so: "object ... cannot be preloaded" */
		char said[256] = "";
		FILE *f = fopen(errfile, "re");

		if (f) {
			if (!fgets(said, sizeof(said), f))
				said[0] = '\0';
			fclose(f);
		}
		said[strcspn(said, "\n")] = '\0';
		return dise_cli_error(0, "self-test: '/bin/sh -c \"exit 7\"' under the shim wrote to stderr: %s", said);
	}
	if (WIFSIGNALED(status))
		return dise_cli_error(0, "self-test: '/bin/sh -c \"exit 7\"' under the shim was killed by signal %d", WTERMSIG(status));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 7)
		return dise_cli_error(0, "self-test: '/bin/sh -c \"exit 7\"' under the shim exited %d, not 7", WEXITSTATUS(status));
	return 0;
}

int dise_cli_shim_selftest(const char *shim)
{
	char dir[] = "/tmp/dise-selftest-XXXXXX", ring[64], errfile[64];
	struct dise_ring_stats s;
	dise_ring rg;
	int r;

	if ((r = check_shim_file(shim)) != 0)
		return r;
	if (!mkdtemp(dir))
		return dise_cli_error(-errno, "self-test: cannot make a scratch directory");
	snprintf(ring, sizeof(ring), "%s/ring", dir);
	snprintf(errfile, sizeof(errfile), "%s/stderr", dir);
	r = run_preloaded(shim, ring, errfile);
	if (r == 0 && (r = dise_ring_map(ring, 0, 0, 0, &rg)) == 0) {
		dise_ring_stats(&rg, &s);
		dise_ring_unmap(&rg);
		/* its start and its end: the shim loaded, ran and recorded */
		r = s.written >= 2 ? 0 : dise_cli_error(0, "self-test: the shim recorded %llu records of a run, not its start and end",
							(unsigned long long)s.written);
	} else if (r < 0) {
		r = dise_cli_error(r, "self-test: the shim made no ring at '%s'", ring);
	}
	unlink(ring);
	unlink(errfile);
	rmdir(dir);
	return r;
}
