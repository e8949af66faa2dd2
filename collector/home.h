/* SPDX-License-Identifier: MIT */
#ifndef DISE_HOME_H
#define DISE_HOME_H

#include <stddef.h>

/*
 * $DISE_HOME, else $XDG_STATE_HOME/dise, else ~/.local/state/dise, created
 * (mode 0700) when missing. Writes the path into buf; returns 0 or -errno.
 */
int dise_home(char *buf, size_t size);

/* dir/name into buf; -ENAMETOOLONG when it does not fit. */
int dise_path_join(char *buf, size_t size, const char *dir, const char *name);

#endif
