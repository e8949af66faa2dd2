/* SPDX-License-Identifier: MIT */
/* Offline unwinding of a CRASH record with libunwind's remote interface. */
#ifndef DISE_UNWIND_H
#define DISE_UNWIND_H

#include <stdint.h>

#include "decode.h"

#define DISE_MAX_FRAMES 64

struct dise_frame {
	uint64_t ip;
	const char *module;  /* path from the record, NULL when ip is in no module */
	uint64_t module_off; /* ip as an address of the ELF file (ip - load bias) */
	int in_file;	     /* the module's file on disk is the one that ran: module_off is an address of it */
	char symbol[128];    /* empty when unknown */
	uint64_t symbol_off;
	uint8_t build_id[DISE_BUILD_ID_MAX];
	uint32_t build_id_len;
};

/*
 * Unwinds a decoded CRASH record into at most max frames (frame 0 is the
 * faulting instruction). Module files are read from disk; a module whose
 * file changed since the crash (other inode) is used for neither unwinding
 * nor symbols. Returns the number of frames (>= 1), or -errno.
 */
int dise_unwind_crash(const struct dise_record *rec, struct dise_frame *frames, int max);

#endif
