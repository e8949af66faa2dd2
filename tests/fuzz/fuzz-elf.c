/* SPDX-License-Identifier: MIT */
/*
 * Fuzz driver for the ELF reader (collector/elf-file.c). The collector
 * opens the module files a CRASH record names: a hostile process of the
 * same user can name a file it crafted. Each round garbles a real ELF file
 * (the test programs and the shim, built here), writes it to a temporary
 * file, opens it and calls every reader: image reads at any address and
 * length, the .eh_frame_hdr table, the text range, symbols at addresses
 * inside and around it, the build-id. Nothing may crash or read out of the
 * mapping (ASan in build-asan). Then a CRASH record whose faulting address
 * lies in that file's text, with a random stack, is unwound: libunwind
 * walks the garbled .eh_frame through the reader, and each frame in the
 * file is looked up in its DWARF through libdwfl (collector/symbols.c), as
 * `dise crashes` does: elfutils reads the garbled file too.
 * Usage: fuzz-elf [--iterations N] ELF...
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <signal.h>
#include <sys/stat.h>

#include "decode.h"
#include "dise/event.h"
#include "elf-file.h"
#include "symbols.h"
#include "unwind.h"

#define FUZZ_SEED 0x2545f4914f6cdd1dull
#include "fuzz-rng.h"

struct seed {
	uint8_t *p;
	size_t n;
};

static int slurp(const char *path, struct seed *s)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) < 0) {
		if (f)
			fclose(f);
		return -1;
	}
	s->n = (size_t)n;
	s->p = malloc(s->n);
	if (!s->p || fread(s->p, 1, s->n, f) != s->n) {
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

/* Garbles b: most flips land in the headers, where the reader's trust starts. */
static size_t mutate(uint8_t *b, size_t n)
{
	int k = 1 + (int)(next() % 8), i;

	for (i = 0; i < k; i++) {
		size_t at;

		switch (next() % 6) {
		case 0: /* the ELF header */
			at = next() % (n < 64 ? n : 64);
			break;
		case 1: /* program headers, usually right after it */
			at = 64 + next() % 512;
			break;
		case 2: { /* section headers: at e_shoff, read from the (maybe garbled) header */
			uint64_t shoff;

			memcpy(&shoff, b + 0x28, sizeof(shoff));
			at = (size_t)(shoff + next() % 2048);
			break;
		}
		default:
			at = next() % n;
		}
		if (at >= n)
			continue;
		if (next() % 3)
			b[at] ^= (uint8_t)(1u << (next() % 8));
		else
			b[at] = (uint8_t)next();
	}
	if (next() % 16 == 0)
		n = next() % n; /* a cut file */
	return n;
}

/*
 * A CRASH record of one module, the file at path loaded at base, faulting at
 * vaddr ip_vaddr of it, with stack_len random bytes (some of them addresses
 * in its text, so that unwinding goes on). Returns its length in b.
 */
static uint32_t crash_record(uint8_t *b, const char *path, uint64_t ino, uint64_t first, uint64_t lo, uint64_t hi)
{
	const uint64_t base = 0x555555554000ull, sp = 0x7ffd00000000ull;
	struct dise_rec_crash c;
	struct dise_module m;
	uint32_t stack_len = 512 + next() % 2048, plen = (uint32_t)strlen(path) + 1, msize, off, i;
	uint64_t span = hi > lo ? hi - lo : 1;

	memset(&c, 0, sizeof(c));
	c.signo = SIGSEGV;
	c.arch = DISE_ARCH_X86_64;
	c.nregs = DISE_CRASH_NREGS;
	for (i = 0; i < DISE_CRASH_NREGS; i++)
		c.regs[i] = next();
	c.regs[DISE_REG_SP] = sp;
	c.regs[6] = sp + 64; /* rbp */
	c.regs[DISE_REG_IP] = base - first + lo + next() % span;
	c.stack_addr = sp;
	c.stack_len = stack_len & ~7u;
	off = sizeof(c);
	for (i = 0; i < c.stack_len; i += 8) {
		uint64_t v = next() % 3 ? (uint64_t)next() << 16 | next() : base - first + lo + next() % span;

		memcpy(b + off + i, &v, 8);
	}
	off += c.stack_len;
	msize = ((uint32_t)sizeof(m) + plen + 7u) & ~7u;
	memset(&m, 0, sizeof(m));
	m.size = (uint16_t)msize;
	m.base = base;
	m.end = base - first + hi + 4096;
	m.ino = ino;
	m.path_len = plen;
	memset(b + off, 0, msize);
	memcpy(b + off, &m, sizeof(m));
	memcpy(b + off + sizeof(m), path, plen);
	c.nmodules = 1;
	c.modules_len = msize;
	off += msize;
	c.h.size = off;
	c.h.type = DISE_REC_CRASH;
	c.h.hdr_size = sizeof(c.h);
	c.h.pid = c.h.tid = 4242;
	memcpy(b, &c, sizeof(c));
	return off;
}

int main(int argc, char **argv)
{
	long iterations = 20000, it, opened = 0, frames = 0, real = 0, located = 0;
	static uint8_t rec[DISE_RECORD_MAX];
	struct seed seeds[16];
	int nseeds = 0, i, fd;
	char path[] = "/tmp/dise-fuzz-elf-XXXXXX";
	uint8_t *work;
	size_t maxn = 0;

	unsetenv("DEBUGINFOD_URLS"); /* the garbled files' build ids are asked of no server */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iterations") && i + 1 < argc)
			iterations = atol(argv[++i]);
		else if (nseeds < 16 && slurp(argv[i], &seeds[nseeds]) == 0)
			maxn = seeds[nseeds].n > maxn ? seeds[nseeds].n : maxn, nseeds++;
		else
			fprintf(stderr, "fuzz-elf: cannot read %s\n", argv[i]);
	}
	if (!nseeds) {
		fprintf(stderr, "usage: fuzz-elf [--iterations N] ELF...\n");
		return 2;
	}
	fd = mkstemp(path);
	work = malloc(maxn);
	if (fd < 0 || !work)
		return 1;
	for (it = 0; it < iterations; it++) {
		const struct seed *s = &seeds[next() % (uint32_t)nseeds];
		size_t n;
		dise_elf *e;

		memcpy(work, s->p, s->n);
		n = it % 50 == 0 ? s->n : mutate(work, s->n); /* now and then the real file */
		if (ftruncate(fd, 0) < 0 || pwrite(fd, work, n, 0) != (ssize_t)n)
			return 1;
		if (dise_elf_open(path, &e) < 0) {
			if (it % 50 == 0) {
				fprintf(stderr, "fuzz-elf: round %ld: a real ELF file was refused\n", it);
				return 1;
			}
			continue;
		}
		opened++;
		if (it % 50 == 0) { /* the real file reads as one: a text range, holding a named function */
			uint64_t lo, hi, off, at;
			int named = 0;

			dise_elf_text_range(e, &lo, &hi);
			for (at = lo; at < hi && !named; at += 16)
				named = dise_elf_symbol(e, at, &off) != NULL;
			if (hi <= lo || !named) {
				fprintf(stderr, "fuzz-elf: round %ld: a real ELF file has no text or no symbol in it\n", it);
				return 1;
			}
			real++;
		}
		{
			uint64_t lo, hi, hdr, table, count, off, a;
			const uint8_t *id;
			uint8_t buf[256];
			int k;

			(void)dise_elf_ino(e);
			a = dise_elf_first_vaddr(e);
			dise_elf_text_range(e, &lo, &hi);
			(void)dise_elf_eh_frame_hdr(e, &hdr, &table, &count);
			(void)dise_elf_build_id(e, &id);
			for (k = 0; k < 16; k++) {
				uint64_t at = k < 8 ? lo + (hi > lo ? next() % (hi - lo + 64) : 0) - 32 : a + next();
				const char *name = dise_elf_symbol(e, at, &off);

				if (name)
					(void)strlen(name);
				(void)dise_elf_read(e, at, buf, next() % sizeof(buf));
			}
			(void)dise_elf_read(e, hdr, buf, 8);
			(void)dise_elf_read(e, table, buf, 16);
			(void)dise_elf_read(e, UINT64_MAX - 4, buf, 8);
			if (it % 4 == 0) { /* the unwinder over the garbled file */
				struct dise_record r;
				struct dise_frame fr[DISE_MAX_FRAMES];
				struct stat st;
				uint32_t len;
				int nf;

				fstat(fd, &st);
				len = crash_record(rec, path, st.st_ino, a, lo, hi);
				if (dise_record_decode(rec, len, &r, NULL) == 0 &&
				    (nf = dise_unwind_crash(&r, fr, DISE_MAX_FRAMES)) > 0) {
					/* every fourth unwinding (a thread per lookup: bounded.h) */
					dise_symbols *sy = it % 16 == 0 ? dise_symbols_new() : NULL; /* new: the file changed */
					struct dise_src src[DISE_SRC_MAX];
					int j;

					frames += nf;
					for (j = 0; sy && j < nf; j++)
						if (fr[j].in_file && dise_symbols_lookup(sy, fr[j].module, fr[j].build_id,
											 fr[j].build_id_len, fr[j].module_off,
											 j > 0, src, DISE_SRC_MAX) > 0)
							located++;
					dise_symbols_free(sy);
				}
			}
		}
		dise_elf_free(e);
	}
	close(fd);
	unlink(path);
	free(work);
	for (i = 0; i < nseeds; i++)
		free(seeds[i].p);
	printf("fuzz-elf: %ld garbled files, %ld opened and read through, %ld frames unwound from them, %ld found in the source\n",
	       iterations, opened, frames, located);
	/* the reader, the unwinder and libdwfl were reached, over garbled files too */
	if (real == 0 || opened <= real || frames == 0 || located == 0) {
		fprintf(stderr, "fuzz-elf: %ld real, %ld opened, %ld frames, %ld located: the fuzzing did not reach the readers\n",
			real, opened, frames, located);
		return 1;
	}
	return 0;
}
