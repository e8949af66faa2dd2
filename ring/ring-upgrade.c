/* SPDX-License-Identifier: MIT */
/*
 * A ring an older dise left at the path (dise_ring_retire_older): after an
 * upgrade, /dev/shm/dise-<uid> still has the layout the old shim and
 * collector wrote, and every mapper of this version refuses it (-EPROTO).
 * Consumer side only: the collector moves it aside once its consumer is
 * gone; a producer never renames anything (many would race for it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dise/ring.h"

int dise_ring_retire_older(const char *path, struct dise_ring_retired *out)
{
	struct dise_ring_header h;
	struct stat st;
	int fd, r = 0;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.magic != DISE_RING_MAGIC)
		goto out; /* not a ring of ours: left to the mapper's own refusal */
	/* magic and layout_version have been the header's first 12 bytes in every layout */
	out->layout = h.layout_version;
	if (h.layout_version >= DISE_RING_LAYOUT_VERSION)
		goto out; /* ours (then it is refused for another reason) or a newer dise's: never moved */
	/* its consumer, an older collector, still reads it (every consumer holds this lock) */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto out;
	}
	if ((size_t)snprintf(out->aside, sizeof(out->aside), "%s.layout%u", path, h.layout_version) >=
	    sizeof(out->aside)) {
		r = -ENAMETOOLONG;
		goto out;
	}
	/* kept, not removed: its unread records are bytes this version cannot decode, but someone may want them */
	r = rename(path, out->aside) < 0 ? -errno : 1;
out:
	close(fd);
	return r;
}
