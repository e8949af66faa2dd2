/* SPDX-License-Identifier: MIT */
/*
 * Real cores for the dise-coredump tests: made by the kernel with
 * kernel.core_pattern "core" (a file in the crashing process's cwd), the
 * pattern set for a test's duration when it was something else and put back
 * in its teardown (and at exit), whatever happened.
 */
#ifndef DISE_TEST_CORE_UTIL_H
#define DISE_TEST_CORE_UTIL_H

#include <sys/types.h>

struct fixture;

#define PATTERN "/proc/sys/kernel/core_pattern"
#define PIPE_LIMIT "/proc/sys/kernel/core_pipe_limit"

/* The sysctls as they were, and whether a test changed them. */
extern char saved_pattern[256], saved_limit[32];
extern int pattern_changed;

/* A sysctl (or small file)'s first line without its newline; 0 or -1. */
int read_line(const char *path, char *buf, size_t size);
/* Writes v to path; 0 or -1. */
int write_line(const char *path, const char *v);
/* Puts the saved sysctls back when a test changed them. */
void restore_pattern(void);
/* Group setup and teardown: "core" as the pattern for the group's duration. */
int cores_setup(void **state);
int cores_teardown(void **state);
/* Skips the test when the pattern is not "core". */
void need_cores(void);
/*
 * Runs argv in dir with RLIMIT_CORE unlimited and env ("K=V", NULL-ended,
 * may be NULL) on a clean environment, its output to /dev/null; asserts it
 * dumped core. Returns the core's path (malloc'ed), its pid in *ret_pid.
 */
char *make_core(const char *dir, char *const argv[], const char *const env[], pid_t *ret_pid);
/* Whether the first n bytes of a and b are the same. */
int same_file_prefix(const char *a, const char *b, off_t n);
/* Its size, -1 when it is not there. */
off_t file_size(const char *path);
/* f's directory NAME, made (malloc'ed). */
char *scratch(struct fixture *f, const char *name);

#endif
