/* SPDX-License-Identifier: MIT */
/*
 * The collector's last error, where every command can read it even when the
 * database cannot be: one line in $DISE_HOME/collector.status ("<wall ns>
 * <what went wrong>"), written (atomically, mode 0600) when ingest starts to
 * fail or the collector stops on an error, removed when storing works again.
 */
#ifndef DISE_STATUS_H
#define DISE_STATUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Replaces the file at path with len bytes of data, atomically: written to
 * "<path>.<pid>" (never followed if a symlink, chmod'ed to mode), then
 * renamed over path; on any error the temporary file is removed and path
 * is untouched. Returns 0 or -errno.
 */
int dise_file_replace(const char *path, const void *data, size_t len, mode_t mode);

/* Records the error (printf-style, made one line). Returns 0 or -errno. */
int dise_status_set(const char *home, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* No error stands any more. Returns 0 or -errno. */
int dise_status_clear(const char *home);
/*
 * The error that stands into msg, with when it was recorded (wall clock,
 * ns): 1, or 0 when none, or -errno (never blocks: a FIFO or a symlink
 * there is refused).
 */
int dise_status_get(const char *home, char *msg, size_t size, int64_t *ret_wall_ns);

#endif
