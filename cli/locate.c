/* SPDX-License-Identifier: MIT */
/*
 * Where dise's own files are: found relative to the running binary
 * (/proc/self/exe), never through the build tree, so that a build and an
 * installation under any prefix (/usr, /usr/local, a scratch root made by
 * `dpkg-deb -x`) both find their own shim and collector.
 *
 * The binaries are in one directory (bin/ of the build tree, or
 * ${CMAKE_INSTALL_BINDIR}), so the collector is beside dise. The shim is
 * at DISE_SHIM_RELPATH from that directory when installed (CMake computes
 * it from the install directories: ../lib/x86_64-linux-gnu/dise/libdise_shim.so
 * on Debian amd64), and at
 * ../lib/libdise_shim.so in the build tree.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#ifndef DISE_SHIM_RELPATH
#define DISE_SHIM_RELPATH "../lib/x86_64-linux-gnu/dise/libdise_shim.so"
#endif

/* The directory of the running binary into buf: 0 or -errno. */
static int self_dir(char *buf, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return n < 0 ? -errno : -ENOENT;
	self[n] = '\0';
	if ((size_t)snprintf(buf, size, "%s", dirname(self)) >= size)
		return -ENAMETOOLONG;
	return 0;
}

int dise_cli_sibling(const char *name, char *buf, size_t size)
{
	char dir[PATH_MAX];
	int r = self_dir(dir, sizeof(dir));

	if (r < 0)
		return r;
	return (size_t)snprintf(buf, size, "%s/%s", dir, name) >= size ? -ENAMETOOLONG : 0;
}

int dise_cli_shim_path(char *buf, size_t size, char *tried, size_t tsize)
{
	static const char *const rel[] = { DISE_SHIM_RELPATH, "../lib/libdise_shim.so" };
	char dir[PATH_MAX], cand[PATH_MAX + 64], abs[PATH_MAX];
	size_t i;
	int r = self_dir(dir, sizeof(dir));

	if (r < 0)
		return r;
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(cand, sizeof(cand), "%s/%s", dir, rel[i]);
		if (i == 0 && tried)
			snprintf(tried, tsize, "%s", cand);
		if (!realpath(cand, abs))
			continue;
		if (strlen(abs) >= size)
			return -ENAMETOOLONG;
		memcpy(buf, abs, strlen(abs) + 1);
		return 0;
	}
	return -ENOENT;
}
