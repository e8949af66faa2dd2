/* SPDX-License-Identifier: MIT */
/*
 * The other half of record/crash.c: unwinding a crash after the fact, from the
 * registers, the stack bytes and the module map the handler captured.
 *
 * libunwind is driven through its remote interface (as perf does for
 * sampled stacks): access_reg serves the captured registers, access_mem the
 * captured stack and, for addresses inside a module, the module's file on
 * disk (that is where .eh_frame, .eh_frame_hdr and the code live);
 * find_proc_info points libunwind at the module's .eh_frame_hdr binary
 * search table. A module without one (this Debian's `gcc -static` emits
 * none) gets the same table built from its .eh_frame, served by access_mem
 * at an address no process can have.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libunwind.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bounded.h"
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
	int32_t *table; /* built from .eh_frame: (pc, fde) pairs relative to table_base (a vaddr), by pc */
	size_t table_n;
	uint64_t table_base;
	int table_tried;
};

/* Where a module's built table is served (non-canonical on x86-64: never a real address). */
#define SYN_TABLE_ADDR(i) (UINT64_C(0xfff0000000000000) + ((uint64_t)(i) << 32))
#define EH_FRAME_MAX (64u << 20)

struct uctx {
	const struct dise_record *rec;
	struct umod mods[MAX_MODULES];
	int nmods;
};

/* Opening a module with a deadline (bounded.h): this runs inside ingest's write transaction. */
struct open_job {
	char path[DISE_PATH_MAX];
	dise_elf *elf;
};

static int open_job_run(void *p)
{
	struct open_job *j = p;

	return dise_elf_open(j->path, &j->elf);
}

static void open_job_done(void *p)
{
	struct open_job *j = p;

	dise_elf_free(j->elf);
	free(j);
}

#define MODULE_OPEN_DEADLINE_MS 2000

static int elf_open_bounded(const char *path, dise_elf **ret)
{
	struct open_job *j = calloc(1, sizeof(*j));
	int r;

	if (!j)
		return -ENOMEM;
	snprintf(j->path, sizeof(j->path), "%s", path);
	r = dise_bounded(open_job_run, j, open_job_done, dise_file_deadline_ms(MODULE_OPEN_DEADLINE_MS));
	if (r == -ETIMEDOUT)
		return r; /* j is the thread's now */
	*ret = j->elf;
	free(j);
	return r;
}

static struct umod *module_of(struct uctx *c, uint64_t addr)
{
	int i;

	for (i = 0; i < c->nmods; i++) {
		struct umod *m = &c->mods[i];

		if (addr < m->v.base || addr >= m->v.end)
			continue;
		if (!m->tried) {
			m->tried = 1;
			if (elf_open_bounded(m->v.path, &m->elf) == 0 && dise_elf_ino(m->elf) != m->v.ino)
				m->elf = dise_elf_free(m->elf); /* replaced since the crash */
			if (m->elf)
				m->bias = m->v.base - dise_elf_first_vaddr(m->elf);
		}
		return m;
	}
	return NULL;
}

/* A DWARF pointer of encoding enc at b[*off] (field vaddr at): only what .eh_frame uses. -1 if not. */
static int read_encoded(const uint8_t *b, size_t size, size_t *off, uint8_t enc, uint64_t at, uint64_t *ret)
{
	uint64_t v;
	size_t n;

	switch (enc & 0x0f) {
	case 0x00: case 0x04: case 0x0c: n = 8; break; /* absptr, udata8, sdata8 */
	case 0x03: n = 4; break;			  /* udata4 */
	case 0x0b: n = 4; break;			  /* sdata4 */
	default: return -1;
	}
	if (*off > size || size - *off < n)
		return -1;
	if (n == 4) {
		uint32_t u;

		memcpy(&u, b + *off, 4);
		v = (enc & 0x0f) == 0x0b ? (uint64_t)(int64_t)(int32_t)u : u;
	} else {
		memcpy(&v, b + *off, 8);
	}
	if ((enc & 0x70) == 0x10) /* pcrel */
		v += at;
	else if (enc & 0x70)
		return -1; /* textrel, datarel, funcrel, aligned: not in .eh_frame's FDE starts */
	*off += n;
	*ret = v;
	return 0;
}

static int skip_leb(const uint8_t *b, size_t size, size_t *off)
{
	while (*off < size)
		if (!(b[(*off)++] & 0x80))
			return 0;
	return -1;
}

/* The FDE pointer encoding of the CIE at b[off] ("zR" augmentation), or -1. */
static int cie_encoding(const uint8_t *b, size_t size, size_t off)
{
	size_t p, aug;
	uint32_t len;

	if (off > size || size - off < 9)
		return -1;
	memcpy(&len, b + off, 4);
	if (len == 0xffffffffu || len > size - off - 4)
		return -1;
	size = off + 4 + len; /* the CIE's end */
	p = off + 8;	      /* past length and CIE id (0) */
	if (p >= size || (b[p] != 1 && b[p] != 3))
		return -1; /* version */
	aug = ++p;
	while (p < size && b[p])
		p++;
	if (p >= size || b[aug] != 'z')
		return 0x00; /* no augmentation data: absptr */
	p++;
	if (skip_leb(b, size, &p) < 0 || skip_leb(b, size, &p) < 0) /* code, data alignment */
		return -1;
	if (b[aug - 1] == 1)
		p++;
	else if (skip_leb(b, size, &p) < 0) /* return register */
		return -1;
	if (skip_leb(b, size, &p) < 0) /* augmentation data length */
		return -1;
	for (aug++; aug < size && b[aug]; aug++) {
		uint64_t ignored;

		if (p >= size)
			return -1;
		switch (b[aug]) {
		case 'R':
			return b[p];
		case 'P': {
			uint8_t penc = b[p++];

			if (read_encoded(b, size, &p, penc & 0x7f, 0, &ignored) < 0)
				return -1;
			break;
		}
		case 'L':
			p++;
			break;
		case 'S': case 'B':
			break;
		default:
			return -1;
		}
	}
	return 0x00;
}

static int cmp_pair(const void *a, const void *b)
{
	int32_t x = ((const int32_t *)a)[0], y = ((const int32_t *)b)[0];

	return x < y ? -1 : x > y;
}

/*
 * The binary search table .eh_frame_hdr would hold, built from .eh_frame:
 * (initial location, FDE address) pairs, datarel sdata4 from the start of
 * the text, sorted. Every length and offset is checked: the file may be
 * anything.
 */
static void build_table(struct umod *m)
{
	uint64_t eh, size, lo, hi;
	uint8_t *b;
	size_t off = 0, n = 0, cap = 0;
	int32_t *t = NULL;

	m->table_tried = 1;
	if (dise_elf_section(m->elf, ".eh_frame", &eh, &size) < 0 || size < 8 || size > EH_FRAME_MAX)
		return;
	dise_elf_text_range(m->elf, &lo, &hi);
	if (hi <= lo || !(b = malloc(size)))
		return;
	if (dise_elf_read(m->elf, eh, b, size) < 0) {
		free(b);
		return;
	}
	while (size - off >= 8) {
		uint32_t len, id;
		size_t rec = off + 4, p;
		uint64_t pc;
		int enc;

		memcpy(&len, b + off, 4);
		if (len == 0 || len == 0xffffffffu || len > size - rec)
			break; /* the terminator, a 64-bit record (not made by gcc for x86-64), or garbage */
		memcpy(&id, b + rec, 4);
		off = rec + len;
		if (id == 0 || id > rec)
			continue; /* a CIE, or an FDE pointing before the section */
		enc = cie_encoding(b, size, rec - id);
		p = rec + 4;
		if (enc < 0 || read_encoded(b, off, &p, (uint8_t)enc, eh + (rec + 4), &pc) < 0)
			continue;
		if (pc < lo || pc >= hi || eh + (rec - 4) - lo > INT32_MAX || pc - lo > INT32_MAX)
			continue;
		if (n == cap) {
			int32_t *g = realloc(t, (cap = cap ? cap * 2 : 256) * 2 * sizeof(*t));

			if (!g)
				break;
			t = g;
		}
		t[2 * n] = (int32_t)(pc - lo);
		t[2 * n + 1] = (int32_t)(eh + (rec - 4) - lo);
		n++;
	}
	free(b);
	if (!n) {
		free(t);
		return;
	}
	qsort(t, n, 2 * sizeof(*t), cmp_pair);
	m->table = t;
	m->table_n = n;
	m->table_base = lo;
}

static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi, int need, void *arg)
{
	struct uctx *c = arg;
	struct umod *m = module_of(c, ip);
	uint64_t hdr, table, count, lo, hi;
	unw_dyn_info_t di;

	if (!m || !m->elf)
		return -UNW_ENOINFO;
	dise_elf_text_range(m->elf, &lo, &hi);
	memset(&di, 0, sizeof(di));
	di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	di.start_ip = m->bias + lo;
	di.end_ip = m->bias + hi;
	di.u.rti.name_ptr = 0;
	if (dise_elf_eh_frame_hdr(m->elf, &hdr, &table, &count) == 0) {
		di.u.rti.segbase = m->bias + hdr;
		di.u.rti.table_data = m->bias + table;
		di.u.rti.table_len = count * 8 / sizeof(unw_word_t);
	} else {
		if (!m->table_tried)
			build_table(m);
		if (!m->table)
			return -UNW_ENOINFO;
		di.u.rti.segbase = m->bias + m->table_base;
		di.u.rti.table_data = SYN_TABLE_ADDR(m - c->mods);
		di.u.rti.table_len = m->table_n * 8 / sizeof(unw_word_t);
	}
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
	if (addr >= SYN_TABLE_ADDR(0)) { /* a built table */
		uint64_t i = (addr - SYN_TABLE_ADDR(0)) >> 32, at = (addr - SYN_TABLE_ADDR(0)) & 0xffffffffu;

		if (i < (uint64_t)c->nmods && c->mods[i].table && at <= c->mods[i].table_n * 8 - sizeof(*valp)) {
			memcpy(valp, (const uint8_t *)c->mods[i].table + at, sizeof(*valp));
			return 0;
		}
		return -UNW_EINVAL;
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
		f->in_file = 1;
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
	for (i = 0; i < c->nmods; i++) {
		dise_elf_free(c->mods[i].elf);
		free(c->mods[i].table);
	}
	free(c);
	return n;
}
