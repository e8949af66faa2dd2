/* SPDX-License-Identifier: MIT */
/*
 * A core read as a stream (core.h). The kernel writes an ELF core in one
 * pass: the ELF header, the program headers, the notes (one PT_NOTE), then
 * each PT_LOAD's bytes in file order. So the head is buffered until the
 * notes end; from the notes (the dumping thread's registers) the reader
 * decides which ranges of the memory to keep, and every later byte is either
 * copied into one of those or dropped as it goes by.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/stat.h>

#include "core.h"
#include "record.h"

#define HEAD_MAX (64u << 20)	  /* headers and notes: a thread costs ~3 KiB of notes */
#define STACK_GAP (1u << 20)	  /* as record/crash.c: how far below its stack a fault may be */
#define MODULE_KEEP (16u << 10)	  /* of a file's first mapping: its headers and notes */
#define KEEP_MAX 8192u		  /* kept ranges: the stack and that many files */
#ifndef NT_FILE
#define NT_FILE 0x46494c45
#endif
#ifndef NT_SIGINFO
#define NT_SIGINFO 0x53494749
#endif

struct keep {
	uint64_t off, len, vaddr;
	uint64_t got;
	uint8_t *buf;
};

struct file_map {
	uint64_t start, end, pgoff;
	const char *path; /* into the head buffer */
};

struct dise_core {
	uint64_t off; /* bytes fed */
	int stage;    /* 0: ELF header, 1: program headers, 2: notes, 3: memory */
	const char *err;
	uint8_t *head;
	size_t head_len, head_need, head_cap;
	Elf64_Ehdr eh;
	Elf64_Phdr *ph;
	size_t nph;
	struct file_map *files;
	size_t nfiles;
	uint64_t page_size;
	struct keep *keep;
	size_t nkeep;
	int have_status;
	struct dise_core_info info;
};

dise_core *dise_core_new(void)
{
	dise_core *c = calloc(1, sizeof(*c));

	if (c)
		c->head_need = sizeof(Elf64_Ehdr);
	return c;
}

dise_core *dise_core_free(dise_core *c)
{
	size_t i;

	if (!c)
		return NULL;
	for (i = 0; i < c->nkeep; i++)
		free(c->keep[i].buf);
	free(c->keep);
	free(c->files);
	free(c->ph);
	free(c->head);
	free(c);
	return NULL;
}

const char *dise_core_err(const dise_core *c)
{
	if (c->err)
		return c->err;
	if (c->stage < 3)
		return "the core ended before its notes";
	if (!c->have_status)
		return "the core has no thread status (NT_PRSTATUS)";
	return NULL;
}

const struct dise_core_info *dise_core_info(const dise_core *c)
{
	return &c->info;
}

uint64_t dise_core_size(const dise_core *c)
{
	return c->off;
}

static int fail(dise_core *c, const char *why)
{
	if (!c->err)
		c->err = why;
	return -EBADMSG;
}

/* ---- the notes ---- */

static void note_prstatus(dise_core *c, const uint8_t *d, uint32_t n)
{
	struct elf_prstatus ps;

	if (n < sizeof(ps))
		return;
	c->info.nthreads++;
	if (c->have_status) /* the first is the thread that dumped: the kernel puts it first */
		return;
	memcpy(&ps, d, sizeof(ps));
	c->have_status = 1;
	c->info.tid = (uint32_t)ps.pr_pid;
	c->info.signo = ps.pr_cursig;
	dise_rec_regs_from_user(&ps.pr_reg, c->info.regs);
}

static void note_siginfo(dise_core *c, const uint8_t *d, uint32_t n)
{
	siginfo_t si;

	if (n < sizeof(si) || c->info.si_code)
		return;
	memcpy(&si, d, sizeof(si));
	c->info.si_code = si.si_code;
	c->info.fault_addr = (uint64_t)(uintptr_t)si.si_addr;
}

static void note_prpsinfo(dise_core *c, const uint8_t *d, uint32_t n)
{
	struct elf_prpsinfo pi;

	if (n < sizeof(pi))
		return;
	memcpy(&pi, d, sizeof(pi));
	c->info.pid = (uint32_t)pi.pr_pid;
	c->info.ppid = (uint32_t)pi.pr_ppid;
	c->info.uid = pi.pr_uid;
	c->info.gid = pi.pr_gid;
	memcpy(c->info.fname, pi.pr_fname, sizeof(pi.pr_fname));
	memcpy(c->info.psargs, pi.pr_psargs, sizeof(pi.pr_psargs));
}

/* NT_FILE: count, page size, count (start, end, page offset), then count NUL-terminated paths. */
static void note_file(dise_core *c, const uint8_t *d, uint32_t n)
{
	uint64_t count, i, at;
	const char *s, *end = (const char *)d + n;

	if (n < 16 || c->files)
		return;
	memcpy(&count, d, 8);
	memcpy(&c->page_size, d + 8, 8);
	if (count > (n - 16) / 24 || !(c->files = calloc(count ? count : 1, sizeof(*c->files))))
		return;
	s = (const char *)d + 16 + count * 24;
	for (i = 0, at = 16; i < count && s < end; i++, at += 24) {
		size_t len = strnlen(s, (size_t)(end - s));

		if (s + len == end)
			break; /* no NUL: the rest is cut */
		memcpy(&c->files[i].start, d + at, 8);
		memcpy(&c->files[i].end, d + at + 8, 8);
		memcpy(&c->files[i].pgoff, d + at + 16, 8);
		c->files[i].path = s;
		s += len + 1;
	}
	c->nfiles = (size_t)i;
}

static void parse_notes(dise_core *c, const uint8_t *p, uint64_t n)
{
	uint64_t a = 0;

	while (a + sizeof(Elf64_Nhdr) <= n) {
		Elf64_Nhdr nh;
		uint64_t desc, next;

		memcpy(&nh, p + a, sizeof(nh));
		desc = a + sizeof(nh) + ((nh.n_namesz + 3u) & ~3ull);
		next = desc + ((nh.n_descsz + 3ull) & ~3ull);
		if (next > n || desc + nh.n_descsz > n)
			break;
		switch (nh.n_type) {
		case NT_PRSTATUS: note_prstatus(c, p + desc, nh.n_descsz); break;
		case NT_SIGINFO: note_siginfo(c, p + desc, nh.n_descsz); break;
		case NT_PRPSINFO: note_prpsinfo(c, p + desc, nh.n_descsz); break;
		case NT_FILE: note_file(c, p + desc, nh.n_descsz); break;
		default: break;
		}
		a = next;
	}
}

/* ---- what to keep of the memory ---- */

static void keep_add(dise_core *c, const Elf64_Phdr *ph, uint64_t vaddr, uint64_t len)
{
	struct keep *k;

	if (vaddr < ph->p_vaddr || vaddr - ph->p_vaddr >= ph->p_filesz || c->nkeep >= KEEP_MAX)
		return; /* not in the file (a mapping the kernel did not dump) */
	if (len > ph->p_filesz - (vaddr - ph->p_vaddr))
		len = ph->p_filesz - (vaddr - ph->p_vaddr);
	if (!c->keep && !(c->keep = calloc(KEEP_MAX, sizeof(*c->keep))))
		return;
	k = &c->keep[c->nkeep];
	if (!(k->buf = calloc(1, (size_t)len)))
		return;
	k->off = ph->p_offset + (vaddr - ph->p_vaddr);
	k->len = len;
	k->vaddr = vaddr;
	c->nkeep++;
}

/* The stack as record/crash.c takes it: from sp in its mapping, or the nearest mapping above a sp in the guard gap. */
static void keep_stack(dise_core *c)
{
	uint64_t sp = c->info.regs[DISE_REG_SP];
	const Elf64_Phdr *above = NULL;
	size_t i;

	for (i = 0; i < c->nph; i++) {
		const Elf64_Phdr *ph = &c->ph[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_R))
			continue;
		if (sp >= ph->p_vaddr && sp - ph->p_vaddr < ph->p_memsz) {
			keep_add(c, ph, sp, DISE_CRASH_STACK_MAX);
			return;
		}
		if (ph->p_vaddr > sp && ph->p_vaddr - sp <= STACK_GAP && (!above || ph->p_vaddr < above->p_vaddr))
			above = ph;
	}
	if (above)
		keep_add(c, above, above->p_vaddr, DISE_CRASH_STACK_MAX);
}

static const Elf64_Phdr *load_at(const dise_core *c, uint64_t vaddr)
{
	size_t i;

	for (i = 0; i < c->nph; i++)
		if (c->ph[i].p_type == PT_LOAD && c->ph[i].p_vaddr == vaddr)
			return &c->ph[i];
	return NULL;
}

static void plan_keeps(dise_core *c)
{
	size_t i;

	keep_stack(c);
	for (i = 0; i < c->nfiles; i++) {
		const Elf64_Phdr *ph = c->files[i].pgoff == 0 ? load_at(c, c->files[i].start) : NULL;

		if (ph)
			keep_add(c, ph, ph->p_vaddr, MODULE_KEEP);
	}
}

static void keep_copy(dise_core *c, uint64_t off, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < c->nkeep; i++) {
		struct keep *k = &c->keep[i];
		uint64_t lo = off > k->off ? off : k->off, hi = off + n < k->off + k->len ? off + n : k->off + k->len;

		if (lo < hi) {
			memcpy(k->buf + (lo - k->off), p + (lo - off), (size_t)(hi - lo));
			k->got += hi - lo;
		}
	}
}

/* ---- the head ---- */

static int head_ehdr(dise_core *c)
{
	memcpy(&c->eh, c->head, sizeof(c->eh));
	if (memcmp(c->eh.e_ident, ELFMAG, SELFMAG) || c->eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    c->eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return fail(c, "not a 64-bit little-endian ELF file");
	if (c->eh.e_type != ET_CORE || c->eh.e_machine != EM_X86_64)
		return fail(c, "not an x86-64 core file");
	if (c->eh.e_phentsize != sizeof(Elf64_Phdr) || c->eh.e_phnum == 0)
		return fail(c, "no program headers");
	if (c->eh.e_phnum == PN_XNUM)
		return fail(c, "more than 65534 mappings (PN_XNUM): not supported");
	if (c->eh.e_phoff < sizeof(c->eh) || c->eh.e_phoff > HEAD_MAX)
		return fail(c, "program headers out of place");
	c->nph = c->eh.e_phnum;
	c->head_need = (size_t)c->eh.e_phoff + c->nph * sizeof(Elf64_Phdr);
	c->stage = 1;
	return 0;
}

static int head_phdrs(dise_core *c)
{
	uint64_t note_end = c->head_need;
	size_t i;

	if (!(c->ph = malloc(c->nph * sizeof(*c->ph))))
		return fail(c, "out of memory");
	memcpy(c->ph, c->head + c->eh.e_phoff, c->nph * sizeof(*c->ph));
	for (i = 0; i < c->nph; i++) {
		const Elf64_Phdr *ph = &c->ph[i];

		if (ph->p_type != PT_NOTE)
			continue;
		if (ph->p_offset > HEAD_MAX || ph->p_filesz > HEAD_MAX - ph->p_offset)
			return fail(c, "notes too large");
		if (ph->p_offset + ph->p_filesz > note_end)
			note_end = ph->p_offset + ph->p_filesz;
	}
	c->head_need = (size_t)note_end;
	c->stage = 2;
	return 0;
}

static void head_notes(dise_core *c)
{
	size_t i;

	for (i = 0; i < c->nph; i++)
		if (c->ph[i].p_type == PT_NOTE)
			parse_notes(c, c->head + c->ph[i].p_offset, c->ph[i].p_filesz);
	plan_keeps(c);
	c->stage = 3;
	keep_copy(c, 0, c->head, c->head_len); /* a segment the head already holds (none, in the kernel's layout) */
}

/* Moves the head on while it has what the stage needs. */
static int head_advance(dise_core *c)
{
	while (c->stage < 3 && c->head_len >= c->head_need) {
		int r = 0;

		if (c->stage == 0)
			r = head_ehdr(c);
		else if (c->stage == 1)
			r = head_phdrs(c);
		else
			head_notes(c);
		if (r < 0)
			return r;
	}
	return 0;
}

int dise_core_feed(dise_core *c, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (!c->err && c->stage < 3 && n) {
		size_t take = c->head_need - c->head_len;

		if (take > n)
			take = n;
		if (c->head_len + take > c->head_cap) {
			size_t cap = c->head_need > 2 * c->head_cap ? c->head_need : 2 * c->head_cap;
			uint8_t *h = realloc(c->head, cap);

			if (!h)
				return fail(c, "out of memory");
			c->head = h;
			c->head_cap = cap;
		}
		memcpy(c->head + c->head_len, p, take);
		c->head_len += take;
		c->off += take;
		p += take;
		n -= take;
		head_advance(c);
	}
	if (c->err) {
		c->off += n;
		return -EBADMSG;
	}
	if (n)
		keep_copy(c, c->off, p, n);
	c->off += n;
	return 0;
}

/* ---- what the record builder asks ---- */

const void *dise_core_mem(void *ctx, uint64_t addr, uint32_t n)
{
	const dise_core *c = ctx;
	size_t i;

	for (i = 0; i < c->nkeep; i++) {
		const struct keep *k = &c->keep[i];

		if (k->got == k->len && addr >= k->vaddr && addr - k->vaddr <= k->len && n <= k->len - (addr - k->vaddr))
			return k->buf + (addr - k->vaddr);
	}
	return NULL;
}

int dise_core_mapped(const dise_core *c, const char *base)
{
	size_t i;

	for (i = 0; i < c->nfiles; i++) {
		const char *slash = strrchr(c->files[i].path, '/');

		if (!strcmp(slash ? slash + 1 : c->files[i].path, base))
			return 1;
	}
	return 0;
}

static const struct file_map *file_of(const dise_core *c, uint64_t vaddr)
{
	size_t i;

	for (i = 0; i < c->nfiles; i++)
		if (vaddr >= c->files[i].start && vaddr < c->files[i].end)
			return &c->files[i];
	return NULL;
}

char *dise_core_maps(const dise_core *c, uint32_t *ret_len)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	size_t i;

	if (!f)
		return NULL;
	for (i = 0; i < c->nph; i++) {
		const Elf64_Phdr *ph = &c->ph[i];
		const struct file_map *fm;
		struct stat st;
		uint64_t off = 0, ino = 0;

		if (ph->p_type != PT_LOAD)
			continue;
		fm = file_of(c, ph->p_vaddr);
		if (fm) {
			off = fm->pgoff * c->page_size + (ph->p_vaddr - fm->start);
			if (stat(fm->path, &st) == 0)
				ino = (uint64_t)st.st_ino;
		}
		fprintf(f, "%llx-%llx %c%c%cp %08llx 00:00 %llu %s\n", (unsigned long long)ph->p_vaddr,
			(unsigned long long)(ph->p_vaddr + ph->p_memsz), ph->p_flags & PF_R ? 'r' : '-',
			ph->p_flags & PF_W ? 'w' : '-', ph->p_flags & PF_X ? 'x' : '-', (unsigned long long)off,
			(unsigned long long)ino, fm ? fm->path : "");
	}
	if (fclose(f) != 0 || len > UINT32_MAX) {
		free(text);
		return NULL;
	}
	*ret_len = (uint32_t)len;
	return text;
}
