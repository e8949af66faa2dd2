/* SPDX-License-Identifier: MIT */
#ifndef DISE_HOME_H
#define DISE_HOME_H

#include <stddef.h>
#include <sys/stat.h>

/*
 * $DISE_HOME, else $XDG_STATE_HOME/dise, else ~/.local/state/dise, created
 * (mode 0700) when missing. Writes the path into buf; returns 0 or -errno.
 */
int dise_home(char *buf, size_t size);

/* dir/name into buf; -ENAMETOOLONG when it does not fit. */
int dise_path_join(char *buf, size_t size, const char *dir, const char *name);

/*
 * Opens path for reading without ever blocking in open(): O_NONBLOCK (a
 * FIFO or a device opens at once, and is then refused), O_NOFOLLOW when
 * nofollow, fstat into *st, regular files only (-EINVAL otherwise; the
 * descriptor is then blocking again). Returns the descriptor or -errno.
 * A path from the ring, a config file or the store: any of them can be a
 * FIFO put there by someone.
 */
int dise_open_regular(const char *path, int nofollow, struct stat *st);

#endif
