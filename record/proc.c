/* SPDX-License-Identifier: MIT */
/*
 * Small /proc files read whole into the caller's buffer, and
 * /proc/PID/stat parsed from the last ')' on: the command name may hold
 * anything, spaces and parentheses included.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

ssize_t dise_read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r = 0;

	if (fd < 0)
		return -errno;
	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)r;
	if (r < 0)
		r = -errno;
	close(fd);
	buf[n] = '\0';
	return r < 0 ? r : (ssize_t)n;
}

int dise_proc_stat(pid_t pid, struct dise_proc_stat *ret)
{
	char path[64], buf[2048], *p, *end;
	ssize_t n;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = dise_read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ESRCH; /* gone between the open and the read */
	memset(ret, 0, sizeof(*ret));
	p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
	if (!p || p[1] != ' ' || !p[2])
		return -EPROTO;
	ret->state = p[2];
	p += 3;
	for (i = 4; i <= DISE_STAT_FIELDS && *p == ' '; i++, p = end) {
		ret->f[i] = strtoll(p + 1, &end, 10);
		if (end == p + 1)
			break;
	}
	return i > 22 ? 0 : -EPROTO; /* up to the start time at least */
}

/* The value of the "Name:" line of /proc/pid/status (read into buf), or NULL. */
static const char *status_value(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64], *p;
	size_t len = strlen(name);

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (dise_read_small(path, buf, size) < 0)
		return NULL;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, len) && p[len] == ':')
			return p + len + 1;
	return NULL;
}

long long dise_proc_status_num(pid_t pid, const char *name, int base)
{
	char buf[4096];
	const char *v = status_value(pid, name, buf, sizeof(buf));

	return v ? strtoll(v, NULL, base) : -1;
}

unsigned long long dise_proc_status_mask(pid_t pid, const char *name)
{
	char buf[4096];
	const char *v = status_value(pid, name, buf, sizeof(buf));

	return v ? strtoull(v, NULL, 16) : ~0ull;
}
