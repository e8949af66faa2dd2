/* SPDX-License-Identifier: MIT */
/*
 * The copies beside original files ("<dir>/.dise-<sha256 prefix>-<name>"):
 * where one may be placed, making one, and taking one away.
 *
 * A routed version runs from a copy beside the original, so that what it
 * finds relative to itself (/proc/self/exe's directory) is the original's.
 * Placing a file in someone's directory is not done lightly:
 *   - never in a system directory (/usr except /usr/local, /bin, /sbin,
 *     /lib*, /etc, /boot and the like, after symlinks): the package
 *     manager owns those, and a root collector could write there;
 *   - never in a directory not owned by the store's owner (the collector's
 *     euid): a root collector does not put root's files in a user's
 *     directory, a user's collector cannot anyway;
 * there the route runs the store's copy instead, and `dise health` says so
 * before any heal (scripts keep their name and directory all the same:
 * shim/intercept-open.c; a binary's /proc/self/exe is then in the store).
 *
 * A copy is taken away when no route uses it any more, and only one that
 * is provably dise's: its name is .dise-<the version's sha256 prefix>-...,
 * it is a regular file owned by the collector's euid, mode 0555, and its
 * content hashes to that version's sha256. Anything else is left alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beside.h"
#include "home.h"
#include "sha256.h"

void dise_file_id_of(const struct stat *st, struct dise_file_id *id)
{
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = (uint64_t)st->st_size;
	id->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

void dise_target_id_of(const struct stat *st, struct dise_route_in *ret)
{
	dise_file_id_of(st, &ret->to);
	ret->to_ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

int dise_content_is(int fd, const char *sha)
{
	struct dise_sha256 h;
	uint8_t buf[65536], d[32];
	char hex[65];
	ssize_t n;

	if (dise_sha256_init(&h) < 0)
		return -ENOMEM;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		dise_sha256_update(&h, buf, (size_t)n);
	if (dise_sha256_final(&h, d) < 0 || n < 0)
		return -EIO;
	dise_sha256_hex(d, hex);
	return strcmp(hex, sha) == 0;
}

static int copy_fd(int in, int out)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(in, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (n > 0) {
			ssize_t w = write(out, p, (size_t)n);

			if (w < 0)
				return -errno;
			p += w;
			n -= w;
		}
	}
	return n < 0 ? -errno : 0;
}

int dise_beside_path(const char *orig, const char *sha, char *buf, size_t size)
{
	const char *slash = strrchr(orig, '/');
	int n;

	if (!slash || orig[0] != '/' || strlen(sha) < 16)
		return -EINVAL;
	n = snprintf(buf, size, "%.*s/.dise-%.16s-%s", (int)(slash - orig), orig, sha, slash + 1);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int dise_beside_copy(const char *orig, const char *sha, const char *cas_file, char *out, size_t size,
		     struct dise_route_in *ret)
{
	char tmp[PATH_MAX + 32];
	struct stat st;
	ino_t ino;
	int fd, in, r;

	r = dise_beside_path(orig, sha, out, size);
	if (r < 0)
		return r;
	/* what is there already: ours, read-only, exactly that content */
	fd = open(out, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd >= 0) {
		int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
			 (st.st_mode & 07777) == 0555 && dise_content_is(fd, sha) == 1;

		close(fd);
		if (ok) {
			dise_target_id_of(&st, ret);
			return 0;
		}
	}
	r = snprintf(tmp, sizeof(tmp), "%.*s/.dise-tmp-XXXXXX", (int)(strrchr(out, '/') - out), out);
	if (r < 0 || (size_t)r >= sizeof(tmp))
		return -ENAMETOOLONG;
	in = dise_open_regular(cas_file, 1, &st);
	if (in < 0)
		return in;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		close(in);
		return r;
	}
	r = copy_fd(in, fd);
	close(in);
	if (r == 0 && lseek(fd, 0, SEEK_SET) == 0 && dise_content_is(fd, sha) != 1)
		r = -EIO; /* the store's copy is not that content (any more) */
	if (r == 0 && fchmod(fd, 0555) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, out) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	/* the rename changed its ctime: the identity is the one in place */
	ino = st.st_ino;
	if (lstat(out, &st) < 0)
		return -errno;
	if (st.st_ino != ino)
		return -ESTALE; /* replaced at once: the next publication makes it again */
	dise_target_id_of(&st, ret);
	return 0;
}


/* The package manager's trees: realpath'd directories under these take no copy. */
static int system_dir(const char *dir)
{
	static const char *const sys[] = { "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr",
					    "/etc", "/boot", "/proc", "/sys", "/dev", "/run", "/var/lib" };
	size_t i, n;

	if (strcmp(dir, "/") == 0)
		return 1;
	if (strncmp(dir, "/usr/local", 10) == 0 && (dir[10] == '/' || dir[10] == '\0'))
		return 0;
	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		n = strlen(sys[i]);
		if (strncmp(dir, sys[i], n) == 0 && (dir[n] == '/' || dir[n] == '\0'))
			return 1;
	}
	return 0;
}

int dise_beside_allowed(const char *orig, uid_t owner, char *why, size_t size)
{
	const char *slash = strrchr(orig, '/');
	char dir[PATH_MAX], real[PATH_MAX];
	struct stat st;

	if (!slash || orig[0] != '/' || (size_t)(slash - orig) >= sizeof(dir)) {
		snprintf(why, size, "not an absolute path");
		return -EINVAL;
	}
	snprintf(dir, sizeof(dir), "%.*s", slash == orig ? 1 : (int)(slash - orig), orig);
	if (!realpath(dir, real) || stat(real, &st) != 0) {
		snprintf(why, size, "its directory cannot be resolved: %s", strerror(errno));
		return -ENOENT;
	}
	if (system_dir(real)) {
		snprintf(why, size, "%s is a system directory: no copy is placed there", real);
		return -EPERM;
	}
	if (st.st_uid != owner) {
		snprintf(why, size, "%s is owned by uid %u, not by the store's owner (uid %u): no copy is placed there", real,
			 (unsigned)st.st_uid, (unsigned)owner);
		return -EPERM;
	}
	return 0;
}

int dise_beside_remove(const char *copy, const char *sha)
{
	const char *name = strrchr(copy, '/');
	struct stat st;
	int fd, ours;

	if (!name || copy[0] != '/' || strlen(sha) != 64 || strncmp(name + 1, ".dise-", 6) ||
	    strncmp(name + 7, sha, 16) || name[23] != '-' || !name[24])
		return -EINVAL; /* not a name dise gives */
	fd = open(copy, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	ours = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 07777) == 0555 &&
	       dise_content_is(fd, sha) == 1;
	if (ours) { /* the file at the name is still the one checked (no rename since) */
		struct stat now;

		ours = lstat(copy, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino;
	}
	close(fd);
	if (!ours)
		return -EPERM;
	return unlink(copy) == 0 || errno == ENOENT ? 0 : -errno;
}
