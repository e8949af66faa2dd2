/* SPDX-License-Identifier: MIT */
/* Read-only access to ELF files on disk, for offline unwinding and symbols. */
#ifndef DISE_ELF_FILE_H
#define DISE_ELF_FILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dise_elf dise_elf;

/* Maps an ELF64 file. Returns 0 or -errno (-ENOEXEC: not ELF64 for this machine). */
int dise_elf_open(const char *path, dise_elf **ret);
dise_elf *dise_elf_free(dise_elf *e);

uint64_t dise_elf_ino(const dise_elf *e);
/* p_vaddr (page-aligned) of the PT_LOAD at file offset 0: load address = bias + this. */
uint64_t dise_elf_first_vaddr(const dise_elf *e);

/* Copies n bytes of the loaded image at vaddr (zero for .bss). Returns 0 or -EFAULT. */
int dise_elf_read(const dise_elf *e, uint64_t vaddr, void *buf, size_t n);

/* .eh_frame_hdr: its vaddr and the binary search table. Returns 0 or -ENOENT. */
int dise_elf_eh_frame_hdr(const dise_elf *e, uint64_t *ret_vaddr, uint64_t *ret_table_vaddr, uint64_t *ret_fde_count);

/* The section called name: its vaddr and size. Returns 0 or -ENOENT. */
int dise_elf_section(const dise_elf *e, const char *name, uint64_t *ret_vaddr, uint64_t *ret_size);

/* [lo, hi) of the executable PT_LOADs. */
void dise_elf_text_range(const dise_elf *e, uint64_t *lo, uint64_t *hi);

/* Function containing vaddr, from .symtab or else .dynsym. Returns the name or NULL. */
const char *dise_elf_symbol(const dise_elf *e, uint64_t vaddr, uint64_t *ret_off);

/* GNU build-id; returns its length (0 when none). */
size_t dise_elf_build_id(const dise_elf *e, const uint8_t **ret);

#endif
