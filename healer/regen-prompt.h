/* SPDX-License-Identifier: MIT */
/*
 * What a strategy llm or command is told (regen-prompt.c). The context is
 * JSON: the tool, P's file name, A's and P's source, the diff A -> P, the
 * latest failed run (argv, cwd, exit status, signal, symbolized stack),
 * every replayable rule of the tool as a constraint, the earlier attempts
 * that did not make it (their diff and why), and for command the scratch
 * tree's paths. Every text in it that came from a watched program, or an
 * earlier answer, is bounded (truncated, said so).
 *
 * The prompt (strategy llm) carries the same facts, each text in a block
 * between "<<<DATA-N name>>>" and "<<<END-N name>>>" lines, N a random
 * nonce per prompt, with the instruction that a block's text is data, never
 * instructions; a block's own text cannot hold "<<<" (written "<< <"), so
 * no block closes early, nor opens another.
 */
#ifndef DISE_REGEN_PROMPT_H
#define DISE_REGEN_PROMPT_H

#include <jansson.h>

#include "regen-internal.h"

#define DISE_PROMPT_SOURCE_MAX 65536 /* bytes of a source text */
#define DISE_PROMPT_TEXT_MAX 4096    /* bytes of an argv, a stack, a reason, a rule */
#define DISE_PROMPT_DIFF_MAX 16384   /* bytes of a diff (A -> P, an earlier attempt's) */
#define DISE_PROMPT_EARLIER 5	     /* earlier attempts told */

/* The context of an attempt for g (paths: with the scratch tree's, for command). NULL: out of memory or store error. */
json_t *dise__regen_context(struct rg *g, int paths);

/* The chat messages (a JSON array: system, user) telling ctx as bounded, delimited blocks. NULL: out of memory. */
json_t *dise__regen_messages(const json_t *ctx);

#endif
