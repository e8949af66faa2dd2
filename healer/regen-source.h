/* SPDX-License-Identifier: MIT */
/*
 * Where a compiled tool's source comes from (regen-source.c): dise.json's
 * "source" (a git work tree, a build command, the artifact it makes) and
 * each version's revision (`dise tool add --rev`, or source.rev_command).
 */
#ifndef DISE_REGEN_SOURCE_H
#define DISE_REGEN_SOURCE_H

/*
 * Whether s may name a git revision here: 1 to 255 of [0-9A-Za-z._/-],
 * not starting with '-' (never an option to git), no "..": what
 * `dise tool add --rev` and a rev_command's output must look like before
 * git is asked whether the repository has it.
 */
int dise_rev_name_ok(const char *s);

#endif
