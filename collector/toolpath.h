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
 * The script an interpreter run executes, in two parts. The operand: for
 * interp (its path) and its argv (count strings packed, as in a record),
 * the first non-option operand, made absolute against cwd into out;
 * returns 1, or 0 with none (an option gives the program inline: -c, -e,
 * -E, python's -m; or it reads it from stdin, "-"). No file is looked at.
 * Then whether the file at path is a script: an existing regular file,
 * not an ELF executable (`sh /usr/bin/ls` runs no script); 1 with its stat
 * into st, else 0. The second makes system calls (stat, open, read,
 * close): a caller may keep its answer for a moment (store-runs.c keeps it
 * for a write transaction).
 */
int dise_interpreter_operand(const char *interp, const char *argv, unsigned count, const char *cwd, char *out,
			     size_t size);
int dise_script_file(const char *path, struct stat *st);

#endif
