/* SPDX-License-Identifier: MIT */
/* The candidate makers of strategies llm and command (regen-tries.c, regen-command.c). */
#ifndef DISE_REGEN_TRIES_H
#define DISE_REGEN_TRIES_H

#include <jansson.h>

#include "regen-internal.h"

/*
 * Strategy command: runs g->pol.command in the sandbox, ctx on its stdin,
 * and reads the candidate it left at g->cand into *text (to free). 1 with
 * it, 0 when it made none (why), -errno when it could not run.
 */
int dise__regen_command(struct rg *g, const json_t *ctx, char **text, size_t *len, char *why, size_t size);

#endif
