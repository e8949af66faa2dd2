/* SPDX-License-Identifier: MIT */
/*
 * Strategy llm's request (regen-llm.h): libcurl, jansson. The key is read
 * from the environment at the request, put in one header, and the header
 * list freed; it is never in a message, the journal or a mutation. Nothing
 * of the answer is run here: it is text, made a candidate by regen-patch.c
 * and run only through the validation sandbox.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regen-llm.h"

struct body {
	char *s;
	size_t len;
	int over;
};

static size_t gather(char *p, size_t size, size_t n, void *u)
{
	struct body *b = u;
	size_t k = size * n;
	char *s;

	if (b->len + k > DISE_LLM_MAX_ANSWER) {
		b->over = 1;
		return 0; /* ends the transfer */
	}
	s = realloc(b->s, b->len + k + 1);
	if (!s)
		return 0;
	memcpy(s + b->len, p, k);
	b->s = s;
	b->len += k;
	s[b->len] = '\0';
	return k;
}

/* The authorization header from the key's variable: a new list, or NULL (no key: none needed, or out of memory). */
static struct curl_slist *headers(const struct dise_regen_policy *pol)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	const char *key = pol->api_key_env ? getenv(pol->api_key_env) : NULL;

	if (h && key && *key) {
		char *line = NULL;

		if (asprintf(&line, "Authorization: Bearer %s", key) < 0)
			return h;
		h = curl_slist_append(h, line);
		explicit_bzero(line, strlen(line));
		free(line);
	}
	return h;
}

/* The first choice's content and the usage out of a response body. 0, or -EPROTO with why. */
static int read_answer(const char *body, size_t len, char **answer, int64_t *tokens, char *why, size_t size)
{
	json_t *o = json_loadb(body, len, 0, NULL);
	json_t *c = json_object_get(json_array_get(json_object_get(o, "choices"), 0), "message");
	json_t *t = json_object_get(json_object_get(o, "usage"), "total_tokens");
	const char *s = json_string_value(json_object_get(c, "content"));

	if (!s) {
		snprintf(why, size, "the endpoint's answer is not a chat completion (%s)",
			 o ? "no choices[0].message.content" : "not JSON");
		json_decref(o);
		return -EPROTO;
	}
	*answer = strdup(s);
	*tokens = json_is_integer(t) && json_integer_value(t) > 0 ? json_integer_value(t) : 0;
	json_decref(o);
	return *answer ? 0 : -ENOMEM;
}

int dise_llm_ask(const struct dise_regen_policy *pol, const json_t *messages, char **answer, int64_t *tokens, char *why,
		 size_t size)
{
	json_t *req = json_pack("{s:s,s:O,s:i}", "model", pol->model, "messages", messages, "temperature", 0);
	char *payload = req ? json_dumps(req, JSON_COMPACT) : NULL;
	CURL *h = payload ? curl_easy_init() : NULL;
	struct curl_slist *hdr = h ? headers(pol) : NULL;
	struct body b = { 0 };
	long code = 0;
	CURLcode c;
	int r = 0;

	*answer = NULL;
	*tokens = 0;
	json_decref(req);
	if (!hdr) {
		snprintf(why, size, "out of memory making the request");
		r = -ENOMEM;
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, pol->endpoint);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)pol->timeout_s);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)pol->timeout_s);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, gather);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "dise-regenerate");
	c = curl_easy_perform(h);
	if (c == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (c == CURLE_OPERATION_TIMEDOUT) {
		snprintf(why, size, "the endpoint did not answer within %d s", pol->timeout_s);
		r = -ETIMEDOUT;
	} else if (b.over) {
		snprintf(why, size, "the endpoint's answer is larger than %u bytes: not read", DISE_LLM_MAX_ANSWER);
		r = -EPROTO;
	} else if (c != CURLE_OK) {
		snprintf(why, size, "the endpoint could not be reached: %s", curl_easy_strerror(c));
		r = -EIO;
	} else if (code < 200 || code > 299) {
		snprintf(why, size, "the endpoint answered HTTP status %ld", code);
		r = -EPROTO;
	} else {
		r = read_answer(b.s ? b.s : "", b.len, answer, tokens, why, size);
	}
out:
	curl_slist_free_all(hdr); /* the key's header: freed with it */
	if (h)
		curl_easy_cleanup(h);
	free(payload);
	free(b.s);
	return r;
}
