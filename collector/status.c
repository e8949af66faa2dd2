/* SPDX-License-Identifier: MIT */
/* The collector's last error in $DISE_HOME/collector.status (status.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "home.h"
#include "status.h"

#define STATUS_FILE "collector.status"

int dise_file_replace(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[4300];
	const char *p = data;
	size_t done = 0;
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0) /* whatever the umask took away, or the mode of a leftover */
		r = -errno;
	while (r == 0 && done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = n < 0 ? -errno : -EIO;
		else
			done += (size_t)n;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int dise_status_set(const char *home, const char *fmt, ...)
{
	char path[4200], line[1024];
	struct timespec ts;
	va_list ap;
	char *c;
	int n;

	if (dise_path_join(path, sizeof(path), home, STATUS_FILE) < 0)
		return -ENAMETOOLONG;
	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "%" PRId64 " ", (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	for (c = line; *c; c++) /* one line, whatever SQLite or a path said */
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	strcat(line, "\n");
	return dise_file_replace(path, line, strlen(line), 0600);
}

int dise_status_clear(const char *home)
{
	char path[4200];

	if (dise_path_join(path, sizeof(path), home, STATUS_FILE) < 0)
		return -ENAMETOOLONG;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

int dise_status_get(const char *home, char *msg, size_t size, int64_t *ret_wall_ns)
{
	char path[4200], buf[1100], *end;
	struct stat s;
	ssize_t n;
	int fd;

	if (dise_path_join(path, sizeof(path), home, STATUS_FILE) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &s) < 0 || !S_ISREG(s.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	*ret_wall_ns = strtoll(buf, &end, 10);
	if (*end == ' ')
		end++;
	snprintf(msg, size, "%s", end);
	return 1;
}
