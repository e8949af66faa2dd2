/* SPDX-License-Identifier: MIT */
/* The install's state file (state.h): one "key value" per line. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

const char *dise_core_state_path(void)
{
	const char *p = getenv("DISE_CORE_STATE");

	return p && p[0] ? p : "/var/lib/dise/core-previous";
}

static int value_of(const char *line, const char *key, char *out, size_t size)
{
	size_t k = strlen(key);

	if (strncmp(line, key, k) || line[k] != ' ')
		return 0;
	if ((size_t)snprintf(out, size, "%s", line + k + 1) >= size)
		return -EBADMSG;
	out[strcspn(out, "\n")] = '\0';
	return 1;
}

int dise_core_state_read(const char *path, struct dise_core_state *ret)
{
	struct dise_core_state s;
	char line[DISE_CORE_PATTERN_MAX * 3], num[32];
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), have = 0, r = 0;
	FILE *f;

	if (fd < 0)
		return errno == ELOOP ? -EPERM : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & 022)) {
		close(fd);
		return -EPERM;
	}
	if (!(f = fdopen(fd, "r"))) {
		close(fd);
		return -ENOMEM;
	}
	memset(&s, 0, sizeof(s));
	s.previous_pipe_limit = -1;
	while (r >= 0 && fgets(line, sizeof(line), f)) {
		int k;

		if ((k = value_of(line, "previous", s.previous, sizeof(s.previous))) > 0)
			have |= 1;
		else if (k == 0 && (k = value_of(line, "installed", s.installed, sizeof(s.installed))) > 0)
			have |= 2;
		else if (k == 0 && (k = value_of(line, "previous_pipe_limit", num, sizeof(num))) > 0)
			s.previous_pipe_limit = strtol(num, NULL, 10);
		if (k < 0)
			r = k;
	}
	fclose(f);
	if (r < 0 || have != 3)
		return -EBADMSG;
	*ret = s;
	return 0;
}

int dise_core_state_write(const char *path, const struct dise_core_state *s)
{
	char tmp[4096], dir[4096], *slash;
	FILE *f;
	int fd, r = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0)
		return -errno;
	if (!(f = fdopen(fd, "w"))) {
		close(fd);
		return -ENOMEM;
	}
	fprintf(f, "previous %s\nprevious_pipe_limit %ld\ninstalled %s\n", s->previous, s->previous_pipe_limit,
		s->installed);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		r = -errno;
	if (fclose(f) != 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

int dise_core_sysctl_get(const char *file, char *buf, size_t size)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int dise_core_sysctl_set(const char *file, const char *value)
{
	int fd = open(file, O_WRONLY | O_TRUNC | O_CLOEXEC); /* O_TRUNC: a stand-in file (tests); no effect on /proc/sys */
	size_t n = strlen(value);
	ssize_t w;

	if (fd < 0)
		return -errno;
	w = write(fd, value, n);
	if (w < 0) {
		w = -errno;
		close(fd);
		return (int)w;
	}
	close(fd);
	return (size_t)w == n ? 0 : -EIO;
}
