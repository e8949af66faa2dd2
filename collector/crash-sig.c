/* SPDX-License-Identifier: MIT */
/*
 * Crash signatures. A CRASH record is unwound offline (unwind.c); the
 * signature hashes the top frames that lie in a module, each as the
 * module's build-id (or its file name when it has none) and the offset in
 * the module: the same bug gives the same signature across ASLR, across
 * runs and across hosts with the same binaries. Not storage: the store
 * only keeps what this computes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash-sig.h"
#include "unwind.h"

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/*
 * Crash signature: FNV-1a over the top frames that lie in a module, each as
 * (build-id, or the module's file name, and the offset in the module).
 * Stable across ASLR and across hosts that run the same binaries.
 */
#define SIGNATURE_FRAMES 5

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--) {
		h ^= *b++;
		h *= 1099511628211ull;
	}
	return h;
}

void dise_crash_signature(const struct dise_record *rec, char sig[24], char **ret_frames)
{
	struct dise_frame *fr = calloc(DISE_MAX_FRAMES, sizeof(*fr));
	json_t *arr = json_array();
	uint64_t h = 14695981039346656037ull;
	int n, i, used = 0;

	n = fr ? dise_unwind_crash(rec, fr, DISE_MAX_FRAMES) : -ENOMEM;
	for (i = 0; i < n; i++) {
		json_t *f = json_pack("{s:I}", "ip", (json_int_t)fr[i].ip);

		if (fr[i].module) {
			json_object_set_new(f, "module", json_string(fr[i].module));
			json_object_set_new(f, "offset", json_integer((json_int_t)fr[i].module_off));
			if (used < SIGNATURE_FRAMES) {
				if (fr[i].build_id_len)
					h = fnv(h, fr[i].build_id, fr[i].build_id_len);
				else
					h = fnv(h, base_name(fr[i].module), strlen(base_name(fr[i].module)));
				h = fnv(h, &fr[i].module_off, sizeof(fr[i].module_off));
				used++;
			}
		}
		if (fr[i].symbol[0]) {
			json_object_set_new(f, "function", json_string(fr[i].symbol));
			json_object_set_new(f, "function_offset", json_integer((json_int_t)fr[i].symbol_off));
		}
		json_array_append_new(arr, f);
	}
	snprintf(sig, 24, "%016llx", (unsigned long long)h);
	*ret_frames = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	free(fr);
}
