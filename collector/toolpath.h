/* SPDX-License-Identifier: MIT */
/*
 * Which tool a run belongs to: the path it was invoked at (AT_EXECFN made
 * absolute against the run's cwd, lexically: not the realpath, not the
 * basename), or, for an interpreter given a script file, the script.
 */
#ifndef DISE_TOOLPATH_H
#define DISE_TOOLPATH_H

#include <stddef.h>
#include <sys/stat.h>

/*
 * path made absolute against cwd and normalised lexically ("//", "/./",
 * "/../" folded; symbolic links are not followed) into out. Returns 0, or
 * -ENAMETOOLONG / -EINVAL (no usable path).
 */
int dise_path_absolute(const char *path, const char *cwd, char *out, size_t size);

/*
 * Whether name (a path or basename) is an interpreter whose first
 * non-option operand is a script: sh, bash, dash, zsh, ksh, mksh, busybox
 * sh is not, python, python3, python3.N, perl, perl5.N, ruby, tclsh, lua, node.
 */
int dise_is_interpreter(const char *name);

/*
 * Whether path (or a basename) names a build system's probe program: each
 * run there is another program (autoconf's conftest, conftest.exe; CMake's
 * try_compile cmTC_*), some meant to fail, none a release of the one before.
 */
int dise_is_build_probe(const char *path);

/*
 * The script an interpreter run executes: for interp (its path) and its
 * argv (count strings packed, as in a record), the first non-option operand
 * when it is an existing regular file (made absolute against cwd into out,
 * its stat into st). None when an option gives the program inline (-c, -e,
 * -E, python's -m) or reads it from stdin ("-"), and when the file is an
 * ELF executable (no script: `sh /usr/bin/ls`). Returns 1 with a script,
 * 0 without.
 */
int dise_interpreter_script(const char *interp, const char *argv, unsigned count, const char *cwd, char *out,
			    size_t size, struct stat *st);

/*
 * dise_interpreter_script() in its two parts: the operand that would be the
 * script, made absolute into out (1, or 0 with none: no file looked at),
 * and whether the file at path is one (an existing regular file, not ELF:
 * 1 with its stat into st, else 0). The second makes system calls (stat,
 * open, read, close): a caller may keep its answer for a moment.
 */
int dise_interpreter_operand(const char *interp, const char *argv, unsigned count, const char *cwd, char *out,
			     size_t size);
int dise_script_file(const char *path, struct stat *st);

#endif
