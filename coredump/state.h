/* SPDX-License-Identifier: MIT */
/*
 * What `dise core install` replaced, kept for the handler (to chain to it)
 * and for `dise core uninstall` (to put it back exactly): a small root-owned
 * text file, by default /var/lib/dise/core-previous ($DISE_CORE_STATE: a
 * test's own). The handler runs as root: it trusts the file only when it is
 * a regular file, not a symbolic link, owned by root (or the caller) and
 * writable by no one else.
 */
#ifndef DISE_COREDUMP_STATE_H
#define DISE_COREDUMP_STATE_H

#include <stddef.h>

#define DISE_CORE_PATTERN_MAX 128 /* the kernel's CORENAME_MAX_SIZE */

struct dise_core_state {
	char previous[DISE_CORE_PATTERN_MAX * 2]; /* kernel.core_pattern before the install */
	long previous_pipe_limit;		  /* kernel.core_pipe_limit before */
	char installed[DISE_CORE_PATTERN_MAX * 2]; /* the pattern the install set */
};

/* The state file's path ($DISE_CORE_STATE, else the default). */
const char *dise_core_state_path(void);

/* Reads it. 0, -ENOENT (not installed), -EPERM (not trustworthy), -EBADMSG (malformed), another -errno. */
int dise_core_state_read(const char *path, struct dise_core_state *ret);

/* Writes it atomically (its directory made 0755 when missing). 0 or -errno. */
int dise_core_state_write(const char *path, const struct dise_core_state *s);

/* A sysctl file's first line without its newline (e.g. /proc/sys/kernel/core_pattern). 0 or -errno. */
int dise_core_sysctl_get(const char *file, char *buf, size_t size);
/* Writes a sysctl file. 0 or -errno. */
int dise_core_sysctl_set(const char *file, const char *value);

#endif
