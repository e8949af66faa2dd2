/* SPDX-License-Identifier: MIT */
/* Records as JSON (jansson) and as one-line text, for `dise ring dump`. */
#ifndef DISE_RECORD_JSON_H
#define DISE_RECORD_JSON_H

#include <jansson.h>
#include <stdio.h>

#include "decode.h"

/* A new JSON object for the record, frames unwound for a CRASH. NULL on ENOMEM. */
json_t *dise_record_to_json(const struct dise_record *rec, uint64_t id, uint64_t epoch);

/* Human-readable form, one line (CRASH: plus one line per frame). */
void dise_record_print(FILE *f, const struct dise_record *rec, uint64_t id);

const char *dise_signal_name(int sig);

/*
 * Text of unknown encoding (argv, paths, tool names) as JSON, losslessly:
 * a string when its n bytes are UTF-8, else the object {"hex": "<its bytes
 * in lowercase hex>"}, the documented escape. NULL on ENOMEM.
 */
json_t *dise_json_text(const char *s, size_t n);
/* The bytes v holds as dise_json_text() wrote them (a string, or {"hex"}), NUL-terminated (free it); NULL when neither. */
char *dise_json_text_bytes(json_t *v);
/* Every string in v whose bytes are not UTF-8 (json_stringn_nocheck) replaced by its dise_json_text() form. */
void dise_json_text_fix(json_t *v);

/*
 * The length of the valid UTF-8 sequence at s (at most n bytes, n >= 1), 0
 * when none starts there (overlong forms, surrogates and C1 controls are
 * not valid here).
 */
size_t dise_utf8_len(const unsigned char *s, size_t n);

/* A build id of n bytes as 2n lowercase hex digits and a NUL into out. */
void dise_build_id_hex(const uint8_t *b, uint32_t n, char *out);

#endif
