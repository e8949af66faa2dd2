/* SPDX-License-Identifier: MIT */
/*
 * Source locations of crash frames, through elfutils' libdwfl: function,
 * file and line, and the functions inlined at that address, from the
 * module's own DWARF or from a separate debug file found the way the
 * platform's tools find it (.gnu_debuglink beside the file or in
 * /usr/lib/debug, /usr/lib/debug/.build-id/xx/rest.debug as Debian's
 * -dbgsym packages install it, and debuginfod when DEBUGINFOD_URLS is set).
 * For display only: signatures stay module + offset (crash-sig.c).
 */
#ifndef DISE_SYMBOLS_H
#define DISE_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

#define DISE_SRC_MAX 16

struct dise_src {
	char function[128]; /* "" when the DWARF names none */
	char file[256];	    /* "" when unknown */
	int line, column;   /* 0 when unknown */
	int inlined;	    /* inlined into the next entry (at its file:line) */
};

typedef struct dise_symbols dise_symbols;

dise_symbols *dise_symbols_new(void);
dise_symbols *dise_symbols_free(dise_symbols *s);

/*
 * Where vaddr (an address of the ELF file at path, as a crash frame's
 * offset) is in the source: out[0] the innermost (inlined) function with
 * the file:line of vaddr, each next entry the function it was inlined into
 * with the file:line of that call, the last one the function that is not
 * inlined. caller: vaddr is a return address (a frame past the first),
 * looked up at the call itself. build_id (len > 0): the file, or the debug
 * file found for it, must be that build, else nothing is said (a file
 * replaced since the crash). Returns how many entries (0: no debug
 * information for it), or -errno.
 */
int dise_symbols_lookup(dise_symbols *s, const char *path, const uint8_t *build_id, size_t build_id_len,
			uint64_t vaddr, int caller, struct dise_src *out, int max);

#endif
