/* SPDX-License-Identifier: MIT */
/* Where dise keeps its state: everything derives from $DISE_HOME (and $DISE_RING for the ring). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "home.h"

int dise_path_join(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int mkdir_p(char *path)
{
	char *p;

	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			*p = '/';
			return -errno;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int dise_home(char *buf, size_t size)
{
	const char *e = getenv("DISE_HOME");
	int n;

	if (e && e[0] == '/')
		n = snprintf(buf, size, "%s", e);
	else if (e && e[0]) { /* relative: anchor it, a daemon changes directory */
		char cwd[4096];

		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		n = snprintf(buf, size, "%s/%s", cwd, e);
	}
	else if ((e = getenv("XDG_STATE_HOME")) && e[0])
		n = snprintf(buf, size, "%s/dise", e);
	else if ((e = getenv("HOME")) && e[0])
		n = snprintf(buf, size, "%s/.local/state/dise", e);
	else
		return -ENOENT;
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return mkdir_p(buf);
}

/* Test-only fault switch: an open under $DISE_TEST_HANG_OPEN never returns, as on a hung network filesystem. */
static void hang_if_asked(const char *path)
{
	const char *h = getenv("DISE_TEST_HANG_OPEN");

	if (h && h[0] && strncmp(path, h, strlen(h)) == 0)
		for (;;)
			pause();
}

int dise_open_regular(const char *path, int nofollow, struct stat *st)
{
	int fd, r;

	hang_if_asked(path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0)
		r = -errno;
	else if (!S_ISREG(st->st_mode))
		r = -EINVAL;
	else if (fcntl(fd, F_SETFL, 0) < 0)
		r = -errno;
	else
		return fd;
	close(fd);
	return r;
}
