/* SPDX-License-Identifier: MIT */
/*
 * An ELF core file read as a stream (the kernel's core_pattern pipe): the
 * headers and notes are kept, then, of the memory that follows, only what a
 * CRASH record needs — the faulting thread's stack and the first pages of
 * every mapped file (their build-ids). Memory stays bounded whatever the
 * size of the core: a 2 GiB core costs the notes plus about a MiB.
 *
 * The core is untrusted input (any user can make one): every offset and
 * size is checked against what was read; a core it cannot use leaves
 * dise_core_err() set and the caller records nothing.
 */
#ifndef DISE_COREDUMP_CORE_H
#define DISE_COREDUMP_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "dise/event.h"

typedef struct dise_core dise_core;

dise_core *dise_core_new(void);
dise_core *dise_core_free(dise_core *c);

/* The next n bytes of the core. 0, or -errno once the core is known unusable (the rest may still be fed). */
int dise_core_feed(dise_core *c, const void *buf, size_t n);

/* Why the core cannot be used (NULL: it can, once fed whole). */
const char *dise_core_err(const dise_core *c);

/* What the notes told (valid once the notes were fed). */
struct dise_core_info {
	uint32_t pid, tid; /* pid as the process's pid namespace saw it; tid: the thread that dumped */
	uint32_t nthreads;
	int signo, si_code;
	uint64_t fault_addr;
	uint64_t regs[DISE_CRASH_NREGS]; /* the dumping thread's, DWARF order */
	uint32_t uid, gid, ppid;
	char fname[17];  /* comm */
	char psargs[81]; /* the start of argv, space-separated */
};
const struct dise_core_info *dise_core_info(const dise_core *c);

/* Bytes fed so far. */
uint64_t dise_core_size(const dise_core *c);

/*
 * The mappings as /proc/PID/maps text (one line per PT_LOAD, the file of
 * NT_FILE, its inode by stat of the path: 0 when it cannot be stat'ed),
 * NUL-terminated, malloc'ed; NULL when out of memory.
 */
char *dise_core_maps(const dise_core *c, uint32_t *ret_len);

/* Whether a file of that base name was mapped (e.g. libdise_shim.so). */
int dise_core_mapped(const dise_core *c, const char *base);

/* record/'s memory reader over the kept memory (ctx: the dise_core). */
const void *dise_core_mem(void *ctx, uint64_t addr, uint32_t n);

#endif
