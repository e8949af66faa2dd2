/* SPDX-License-Identifier: MIT */
/* Strategy llm: one chat-completions request to an OpenAI-compatible endpoint (regen-llm.c). */
#ifndef DISE_REGEN_LLM_H
#define DISE_REGEN_LLM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define DISE_LLM_MAX_ANSWER (1u << 20) /* bytes of a response read, at most */

/*
 * POSTs {"model", "messages", "temperature": 0} to pol->endpoint, the key
 * from the environment variable pol->api_key_env (if set) as a bearer
 * token, bounded by pol->timeout_s. The first choice's message content in
 * *answer (to free), the usage's total_tokens in *tokens (0: not said).
 * Returns 0, or -errno (-ETIMEDOUT, -EPROTO: a status not 2xx or a body
 * not a chat completion, -EIO: no answer); why says which in one line, and
 * never holds the key.
 */
int dise_llm_ask(const struct dise_regen_policy *pol, const json_t *messages, char **answer, int64_t *tokens, char *why,
		 size_t size);

#endif
