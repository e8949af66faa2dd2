/* SPDX-License-Identifier: MIT */
/*
 * Validated views of ring records. dise_record_decode() is the only door
 * from untrusted bytes to the rest of dise: after it returns 0 every string
 * is NUL-terminated inside the buffer and every length is within bounds.
 */
#ifndef DISE_DECODE_H
#define DISE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "dise/event.h"

struct dise_record {
	uint16_t type;
	struct dise_rec_hdr hdr;
	union {
		struct dise_rec_start start;
		struct dise_rec_exec exec;
		struct dise_rec_exit exit;
		struct dise_rec_crash crash;
		struct dise_rec_reap reap;
	} u; /* fixed part, zero-extended when the writer knew a shorter struct */
	const char *exe, *execfn, *cwd, *path; /* START: exe/execfn/cwd; EXEC: path */
	const char *argv;                       /* argv_count strings packed */
	uint32_t argv_len, argv_count;
	const uint8_t *stack; /* CRASH */
	uint32_t stack_len;
	const uint8_t *modules; /* CRASH: nmodules validated entries */
	uint32_t modules_len, nmodules;
	const uint8_t *payload; /* TEST */
	uint32_t payload_len;
};

/*
 * Decodes a record of len bytes at buf (kept alive by the caller: the views
 * point into it). Returns 0, or -EBADMSG with *ret_why (when not NULL) set
 * to a static one-line reason.
 */
int dise_record_decode(const void *buf, size_t len, struct dise_record *ret, const char **ret_why);

/* Module entry iteration over a decoded CRASH. */
struct dise_module_view {
	uint64_t base, end, ino;
	const uint8_t *build_id;
	uint32_t build_id_len;
	const char *path;
};
/* Fills *ret with the module at *off and advances *off; returns 0 or -ENOENT at the end. */
int dise_record_next_module(const struct dise_record *rec, uint32_t *off, struct dise_module_view *ret);

const char *dise_rec_type_name(unsigned type);

#endif
