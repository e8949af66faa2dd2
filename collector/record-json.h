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

#endif
