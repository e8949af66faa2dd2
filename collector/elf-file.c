/* SPDX-License-Identifier: MIT */
/*
 * Minimal ELF64 reader over a read-only mapping. Every offset taken from the
 * file is checked against the file size before use: module files can be
 * anything by the time a crash is looked at.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elf-file.h"
#include "home.h"

struct dise_elf {
	const uint8_t *map;
	size_t size;
	uint64_t ino;
	const Elf64_Ehdr *eh;
	const Elf64_Phdr *ph;
	unsigned phnum;
	const Elf64_Sym *syms;
	size_t nsyms;
	const char *strtab;
	size_t strsz;
	const uint8_t *build_id;
	size_t build_id_len;
};

static int in_file(const dise_elf *e, uint64_t off, uint64_t len)
{
	return off <= e->size && len <= e->size - off;
}

/* The same, for an array of structures read in place: also aligned as they must be (a real file always is). */
static int in_file_aligned(const dise_elf *e, uint64_t off, uint64_t len, uint64_t align)
{
	return off % align == 0 && in_file(e, off, len);
}

static void find_symbols(dise_elf *e)
{
	const Elf64_Ehdr *eh = e->eh;
	const Elf64_Shdr *sh;
	unsigned i, pass;

	if (!eh->e_shoff || eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    !in_file_aligned(e, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), 8))
		return;
	sh = (const Elf64_Shdr *)(e->map + eh->e_shoff);
	for (pass = 0; pass < 2 && !e->syms; pass++) {
		uint32_t want = pass == 0 ? SHT_SYMTAB : SHT_DYNSYM;

		for (i = 0; i < eh->e_shnum; i++) {
			const Elf64_Shdr *str;

			if (sh[i].sh_type != want || sh[i].sh_link >= eh->e_shnum)
				continue;
			str = &sh[sh[i].sh_link];
			if (!in_file_aligned(e, sh[i].sh_offset, sh[i].sh_size, 8) ||
			    !in_file(e, str->sh_offset, str->sh_size))
				continue;
			e->syms = (const Elf64_Sym *)(e->map + sh[i].sh_offset);
			e->nsyms = sh[i].sh_size / sizeof(Elf64_Sym);
			e->strtab = (const char *)(e->map + str->sh_offset);
			e->strsz = str->sh_size;
			break;
		}
	}
}

static void find_build_id(dise_elf *e)
{
	unsigned i;

	for (i = 0; i < e->phnum; i++) {
		uint64_t off = e->ph[i].p_offset, end;

		if (e->ph[i].p_type != PT_NOTE || !in_file_aligned(e, off, e->ph[i].p_filesz, 4))
			continue;
		end = off + e->ph[i].p_filesz;
		while (off + sizeof(Elf64_Nhdr) <= end) {
			const Elf64_Nhdr *n = (const Elf64_Nhdr *)(e->map + off);
			uint64_t name = off + sizeof(*n);
			uint64_t desc = name + ((n->n_namesz + 3u) & ~3u);
			uint64_t next = desc + ((n->n_descsz + 3u) & ~3u);

			if (next > end)
				break;
			if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && !memcmp(e->map + name, "GNU", 4)) {
				e->build_id = e->map + desc;
				e->build_id_len = n->n_descsz;
				return;
			}
			off = next;
		}
	}
}

int dise_elf_open(const char *path, dise_elf **ret)
{
	struct stat st;
	dise_elf *e;
	void *map;
	int fd, r;

	/* a module path from the ring: never blocks in open() (a FIFO), regular files only */
	fd = dise_open_regular(path, 0, &st);
	if (fd == -EINVAL)
		return -ENOEXEC;
	if (fd < 0)
		return fd;
	if (st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		r = -ENOEXEC;
		close(fd);
		return r;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	r = -errno;
	close(fd);
	if (map == MAP_FAILED)
		return r;
	e = calloc(1, sizeof(*e));
	if (!e) {
		munmap(map, (size_t)st.st_size);
		return -ENOMEM;
	}
	e->map = map;
	e->size = (size_t)st.st_size;
	e->ino = st.st_ino;
	e->eh = map;
	if (memcmp(e->eh->e_ident, ELFMAG, SELFMAG) || e->eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    e->eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    !in_file_aligned(e, e->eh->e_phoff, (uint64_t)e->eh->e_phnum * sizeof(Elf64_Phdr), 8)) {
		dise_elf_free(e);
		return -ENOEXEC;
	}
	e->ph = (const Elf64_Phdr *)(e->map + e->eh->e_phoff);
	e->phnum = e->eh->e_phnum;
	find_symbols(e);
	find_build_id(e);
	*ret = e;
	return 0;
}

dise_elf *dise_elf_free(dise_elf *e)
{
	if (!e)
		return NULL;
	munmap((void *)e->map, e->size);
	free(e);
	return NULL;
}

uint64_t dise_elf_ino(const dise_elf *e)
{
	return e->ino;
}

uint64_t dise_elf_first_vaddr(const dise_elf *e)
{
	unsigned i;

	for (i = 0; i < e->phnum; i++)
		if (e->ph[i].p_type == PT_LOAD && e->ph[i].p_offset == 0)
			return e->ph[i].p_vaddr & ~(uint64_t)4095;
	for (i = 0; i < e->phnum; i++)
		if (e->ph[i].p_type == PT_LOAD)
			return (e->ph[i].p_vaddr - e->ph[i].p_offset) & ~(uint64_t)4095;
	return 0;
}

int dise_elf_read(const dise_elf *e, uint64_t vaddr, void *buf, size_t n)
{
	unsigned i;

	for (i = 0; i < e->phnum; i++) {
		const Elf64_Phdr *p = &e->ph[i];

		if (p->p_type != PT_LOAD || vaddr < p->p_vaddr || vaddr - p->p_vaddr >= p->p_memsz ||
		    n > p->p_memsz - (vaddr - p->p_vaddr))
			continue;
		if (vaddr - p->p_vaddr + n <= p->p_filesz) {
			uint64_t off = p->p_offset + (vaddr - p->p_vaddr);

			if (!in_file(e, off, n))
				return -EFAULT;
			memcpy(buf, e->map + off, n);
			return 0;
		}
		if (vaddr - p->p_vaddr >= p->p_filesz) {
			memset(buf, 0, n);
			return 0;
		}
		return -EFAULT; /* straddles the end of the file part: not worth the trouble */
	}
	return -EFAULT;
}

static int enc_size(uint8_t enc)
{
	switch (enc & 0x0f) {
	case 0x02: case 0x0a: return 2;
	case 0x03: case 0x0b: return 4;
	case 0x04: case 0x0c: return 8;
	default: return -1;
	}
}

int dise_elf_eh_frame_hdr(const dise_elf *e, uint64_t *ret_vaddr, uint64_t *ret_table_vaddr, uint64_t *ret_fde_count)
{
	unsigned i;

	for (i = 0; i < e->phnum; i++) {
		const Elf64_Phdr *p = &e->ph[i];
		uint8_t h[4];
		int a, b;
		uint32_t count;

		if (p->p_type != PT_GNU_EH_FRAME)
			continue;
		if (dise_elf_read(e, p->p_vaddr, h, 4) < 0 || h[0] != 1)
			return -ENOENT;
		a = enc_size(h[1]);
		b = enc_size(h[2]);
		/* libunwind's remote table search wants datarel sdata4 pairs and a udata4 count */
		if (a < 0 || b != 4 || h[3] != 0x3b)
			return -ENOENT;
		if (dise_elf_read(e, p->p_vaddr + 4 + (uint64_t)a, &count, 4) < 0)
			return -ENOENT;
		*ret_vaddr = p->p_vaddr;
		*ret_table_vaddr = p->p_vaddr + 4 + (uint64_t)a + 4;
		*ret_fde_count = count;
		return 0;
	}
	return -ENOENT;
}

int dise_elf_section(const dise_elf *e, const char *name, uint64_t *ret_vaddr, uint64_t *ret_size)
{
	const Elf64_Ehdr *eh = e->eh;
	const Elf64_Shdr *sh, *names;
	size_t len = strlen(name);
	unsigned i;

	if (!eh->e_shoff || eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shstrndx >= eh->e_shnum ||
	    !in_file_aligned(e, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), 8))
		return -ENOENT;
	sh = (const Elf64_Shdr *)(e->map + eh->e_shoff);
	names = &sh[eh->e_shstrndx];
	if (!in_file(e, names->sh_offset, names->sh_size))
		return -ENOENT;
	for (i = 0; i < eh->e_shnum; i++)
		if (sh[i].sh_name < names->sh_size && names->sh_size - sh[i].sh_name > len &&
		    !memcmp(e->map + names->sh_offset + sh[i].sh_name, name, len + 1) && sh[i].sh_addr) {
			*ret_vaddr = sh[i].sh_addr;
			*ret_size = sh[i].sh_size;
			return 0;
		}
	return -ENOENT;
}

void dise_elf_text_range(const dise_elf *e, uint64_t *lo, uint64_t *hi)
{
	unsigned i;

	*lo = UINT64_MAX;
	*hi = 0;
	for (i = 0; i < e->phnum; i++) {
		const Elf64_Phdr *p = &e->ph[i];

		if (p->p_type != PT_LOAD || !(p->p_flags & PF_X))
			continue;
		if (p->p_vaddr < *lo)
			*lo = p->p_vaddr;
		if (p->p_vaddr + p->p_memsz > *hi)
			*hi = p->p_vaddr + p->p_memsz;
	}
	if (*lo > *hi)
		*lo = *hi = 0;
}

const char *dise_elf_symbol(const dise_elf *e, uint64_t vaddr, uint64_t *ret_off)
{
	const Elf64_Sym *best = NULL;
	size_t i;

	for (i = 0; i < e->nsyms; i++) {
		const Elf64_Sym *s = &e->syms[i];

		if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF || s->st_value > vaddr)
			continue;
		if (s->st_size && vaddr - s->st_value < s->st_size) {
			best = s;
			break;
		}
		if (!s->st_size && (!best || s->st_value > best->st_value))
			best = s;
	}
	if (!best || best->st_name >= e->strsz || !memchr(e->strtab + best->st_name, '\0', e->strsz - best->st_name))
		return NULL;
	*ret_off = vaddr - best->st_value;
	return e->strtab + best->st_name;
}

size_t dise_elf_build_id(const dise_elf *e, const uint8_t **ret)
{
	*ret = e->build_id;
	return e->build_id ? e->build_id_len : 0;
}
