/* SPDX-License-Identifier: MIT */
/*
 * The other half of shim/crash.c: unwinding a crash after the fact, from the
 * registers, the stack bytes and the module map the handler captured.
 *
 * libunwind is driven through its remote interface (as perf does for
 * sampled stacks): access_reg serves the captured registers, access_mem the
 * captured stack and, for addresses inside a module, the module's file on
 * disk (that is where .eh_frame, .eh_frame_hdr and the code live);
 * find_proc_info points libunwind at the module's .eh_frame_hdr binary
 * search table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libunwind.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "elf-file.h"
#include "unwind.h"

/* Exported by libunwind-generic, not declared in its headers (perf declares it the same way). */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip, unw_dyn_info_t *di,
					      unw_proc_info_t *pi, int need_unwind_info, void *arg);

#define MAX_MODULES 1024

struct umod {
	struct dise_module_view v;
	dise_elf *elf;
	int tried;
	uint64_t bias;
};

struct uctx {
	const struct dise_record *rec;
	struct umod mods[MAX_MODULES];
	int nmods;
};

static struct umod *module_of(struct uctx *c, uint64_t addr)
{
	int i;

	for (i = 0; i < c->nmods; i++) {
		struct umod *m = &c->mods[i];

		if (addr < m->v.base || addr >= m->v.end)
			continue;
		if (!m->tried) {
			m->tried = 1;
			if (dise_elf_open(m->v.path, &m->elf) == 0 && dise_elf_ino(m->elf) != m->v.ino)
				m->elf = dise_elf_free(m->elf); /* replaced since the crash */
			if (m->elf)
				m->bias = m->v.base - dise_elf_first_vaddr(m->elf);
		}
		return m;
	}
	return NULL;
}

static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi, int need, void *arg)
{
	struct uctx *c = arg;
	struct umod *m = module_of(c, ip);
	uint64_t hdr, table, count, lo, hi;
	unw_dyn_info_t di;

	if (!m || !m->elf || dise_elf_eh_frame_hdr(m->elf, &hdr, &table, &count) < 0)
		return -UNW_ENOINFO;
	dise_elf_text_range(m->elf, &lo, &hi);
	memset(&di, 0, sizeof(di));
	di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	di.start_ip = m->bias + lo;
	di.end_ip = m->bias + hi;
	di.u.rti.name_ptr = 0;
	di.u.rti.segbase = m->bias + hdr;
	di.u.rti.table_data = m->bias + table;
	di.u.rti.table_len = count * 8 / sizeof(unw_word_t);
	return UNW_OBJ(dwarf_search_unwind_table)(as, ip, &di, pi, need, arg);
}

static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
	(void)as;
	(void)pi;
	(void)arg;
}

static int get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *dilap, void *arg)
{
	(void)as;
	(void)dilap;
	(void)arg;
	return -UNW_ENOINFO;
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *valp, int write, void *arg)
{
	struct uctx *c = arg;
	const struct dise_rec_crash *k = &c->rec->u.crash;
	struct umod *m;

	(void)as;
	if (write)
		return -UNW_EINVAL;
	if (addr >= k->stack_addr && addr - k->stack_addr + sizeof(*valp) <= c->rec->stack_len) {
		memcpy(valp, c->rec->stack + (addr - k->stack_addr), sizeof(*valp));
		return 0;
	}
	m = module_of(c, addr);
	if (m && m->elf && dise_elf_read(m->elf, addr - m->bias, valp, sizeof(*valp)) == 0)
		return 0;
	return -UNW_EINVAL;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *valp, int write, void *arg)
{
	struct uctx *c = arg;

	(void)as;
	if (write || reg < 0 || (unsigned)reg >= c->rec->u.crash.nregs)
		return -UNW_EBADREG;
	*valp = c->rec->u.crash.regs[reg];
	return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write, void *arg)
{
	(void)as;
	(void)reg;
	(void)val;
	(void)write;
	(void)arg;
	return -UNW_EBADREG;
}

static int resume(unw_addr_space_t as, unw_cursor_t *cur, void *arg)
{
	(void)as;
	(void)cur;
	(void)arg;
	return -UNW_EINVAL;
}

static int get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len, unw_word_t *offp, void *arg)
{
	(void)as;
	(void)addr;
	(void)buf;
	(void)len;
	(void)offp;
	(void)arg;
	return -UNW_ENOINFO;
}

static unw_accessors_t accessors = {
	.find_proc_info = find_proc_info,
	.put_unwind_info = put_unwind_info,
	.get_dyn_info_list_addr = get_dyn_info_list_addr,
	.access_mem = access_mem,
	.access_reg = access_reg,
	.access_fpreg = access_fpreg,
	.resume = resume,
	.get_proc_name = get_proc_name,
};

static void describe(struct uctx *c, uint64_t ip, int first, struct dise_frame *f)
{
	struct umod *m = module_of(c, ip);

	memset(f, 0, sizeof(*f));
	f->ip = ip;
	if (!m)
		return;
	f->module = m->v.path;
	f->build_id_len = m->v.build_id_len;
	memcpy(f->build_id, m->v.build_id, m->v.build_id_len);
	if (m->elf) {
		const char *name;
		/* A return address points after the call: look the caller up by the call itself. */
		uint64_t va = ip - m->bias, look = first || va == 0 ? va : va - 1, off = 0;

		f->module_off = va;
		name = dise_elf_symbol(m->elf, look, &off);
		if (name) {
			strncpy(f->symbol, name, sizeof(f->symbol) - 1);
			f->symbol_off = off + (look != va);
		}
	} else {
		f->module_off = ip - m->v.base;
	}
}

int dise_unwind_crash(const struct dise_record *rec, struct dise_frame *frames, int max)
{
	struct uctx *c;
	unw_addr_space_t as;
	unw_cursor_t cur;
	uint32_t off = 0;
	int n = 0, i;

	if (rec->type != DISE_REC_CRASH || max <= 0)
		return -EINVAL;
	if (rec->u.crash.arch != DISE_ARCH_X86_64 || rec->u.crash.nregs <= DISE_REG_IP)
		return -EPROTONOSUPPORT;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->rec = rec;
	while (c->nmods < MAX_MODULES && dise_record_next_module(rec, &off, &c->mods[c->nmods].v) == 0)
		c->nmods++;

	as = unw_create_addr_space(&accessors, 0);
	if (!as) {
		free(c);
		return -ENOMEM;
	}
	unw_set_caching_policy(as, UNW_CACHE_NONE);
	if (unw_init_remote(&cur, as, c) < 0) {
		describe(c, rec->u.crash.regs[DISE_REG_IP], 1, &frames[n++]);
	} else {
		do {
			unw_word_t ip = 0;

			if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || (ip == 0 && n > 0))
				break;
			describe(c, ip, n == 0, &frames[n]);
			n++;
		} while (n < max && unw_step(&cur) > 0);
	}
	unw_destroy_addr_space(as);
	for (i = 0; i < c->nmods; i++)
		dise_elf_free(c->mods[i].elf);
	free(c);
	return n;
}
