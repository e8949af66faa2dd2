/* SPDX-License-Identifier: MIT */
/*
 * Source locations through libdwfl (symbols.h). Each module is reported
 * alone, offline, at its own addresses (bias 0), so a frame's offset is
 * looked up as it is. libdwfl's standard find_debuginfo does the finding
 * of debug files: .gnu_debuglink (beside the file, in .debug/, under
 * /usr/lib/debug), the build-id tree /usr/lib/debug/.build-id, and
 * debuginfod when DEBUGINFOD_URLS is set (libdwfl loads libdebuginfod
 * itself); it checks that a debug file found is of the same build.
 *
 * Module paths come from CRASH records, which any process of the user can
 * write: a module, and the debug files libdwfl then opens (blocking, a FIFO
 * named as a debug link would hold it forever), are opened and read on a
 * thread with a deadline (bounded.h); a module not ready by then has no
 * lines.
 */
#define _GNU_SOURCE
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounded.h"
#include "symbols.h"

#define MODULES_MAX 64

struct smod {
	char *path;
	uint8_t build_id[64];
	size_t build_id_len;
	Dwfl *dwfl;
	Dwfl_Module *mod; /* NULL: no usable file (gone, not ELF, another build) */
};

struct dise_symbols {
	struct smod mods[MODULES_MAX];
	int n;
};

static char *debuginfo_path; /* NULL: libdwfl's default, ":.debug:/usr/lib/debug" */

static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &debuginfo_path,
};

static void smod_clear(struct smod *m)
{
	if (m->dwfl)
		dwfl_end(m->dwfl);
	free(m->path);
}

dise_symbols *dise_symbols_new(void)
{
	return calloc(1, sizeof(struct dise_symbols));
}

dise_symbols *dise_symbols_free(dise_symbols *s)
{
	int i;

	if (!s)
		return NULL;
	for (i = 0; i < s->n; i++)
		smod_clear(&s->mods[i]);
	free(s);
	return NULL;
}

/* The module of path as the build build_id, reported to a Dwfl of its own (m->mod NULL when it cannot be). */
static void module_open(struct smod *m)
{
	const unsigned char *bits;
	GElf_Addr at;
	struct stat st;
	int fd, n;

	fd = open(m->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(m->dwfl = dwfl_begin(&callbacks))) {
		close(fd); /* a FIFO or a device is no module: never wait on one */
		return;
	}
	dwfl_report_begin(m->dwfl);
	m->mod = dwfl_report_elf(m->dwfl, m->path, m->path, fd, 0, true);
	if (!m->mod && fcntl(fd, F_GETFD) >= 0)
		close(fd); /* consumed only on success */
	dwfl_report_end(m->dwfl, NULL, NULL);
	if (!m->mod)
		return;
	n = dwfl_module_build_id(m->mod, &bits, &at);
	if (m->build_id_len && (n != (int)m->build_id_len || memcmp(bits, m->build_id, (size_t)n) != 0)) {
		m->mod = NULL; /* another build at that path now: its lines would be wrong */
		return;
	}
	(void)dwfl_module_getdwarf(m->mod, &at); /* finds and reads the debug file now, within the deadline */
}

static int open_job_run(void *p)
{
	module_open(p);
	return 0;
}

static void open_job_done(void *p)
{
	smod_clear(p);
	free(p);
}

/* A local lookup takes milliseconds; a download from debuginfod may take a while. */
#define LOCAL_DEADLINE_MS 5000
#define DEBUGINFOD_DEADLINE_MS 120000

/* module_open() with a deadline: m->mod NULL when it could not be opened in time. */
static void module_open_bounded(struct smod *m)
{
	const char *urls = getenv("DEBUGINFOD_URLS");
	struct smod *job = calloc(1, sizeof(*job));
	int r;

	if (!job || !(job->path = strdup(m->path))) {
		free(job);
		return;
	}
	memcpy(job->build_id, m->build_id, m->build_id_len);
	job->build_id_len = m->build_id_len;
	r = dise_bounded(open_job_run, job, open_job_done,
			 dise_file_deadline_ms(urls && urls[0] ? DEBUGINFOD_DEADLINE_MS : LOCAL_DEADLINE_MS));
	if (r == -ETIMEDOUT || r == -EBUSY) {
		if (r == -EBUSY)
			open_job_done(job);
		return; /* on timeout the job is the thread's */
	}
	m->dwfl = job->dwfl;
	m->mod = job->mod;
	free(job->path);
	free(job);
}

static struct smod *module_get(dise_symbols *s, const char *path, const uint8_t *build_id, size_t len)
{
	struct smod *m;
	int i;

	if (len > sizeof(m->build_id))
		return NULL;
	for (i = 0; i < s->n; i++) {
		m = &s->mods[i];
		if (!strcmp(m->path, path) && m->build_id_len == len && !memcmp(m->build_id, build_id, len))
			return m;
	}
	if (s->n == MODULES_MAX)
		return NULL;
	m = &s->mods[s->n];
	if (!(m->path = strdup(path)))
		return NULL;
	memcpy(m->build_id, build_id, len);
	m->build_id_len = len;
	s->n++;
	module_open_bounded(m);
	return m;
}

static void set_src(struct dise_src *o, const char *function, const char *file, int line, int column)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->function, sizeof(o->function), "%s", function ? function : "");
	snprintf(o->file, sizeof(o->file), "%s", file ? file : "");
	o->line = line > 0 ? line : 0;
	o->column = column > 0 ? column : 0;
}

static int die_udata(Dwarf_Die *d, unsigned name, Dwarf_Word *ret)
{
	Dwarf_Attribute a;

	return dwarf_formudata(dwarf_attr(d, name, &a), ret);
}

/* The first function scope (inlined or not) of scopes[0..n), or -1. */
static int first_function(Dwarf_Die *scopes, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (dwarf_tag(&scopes[i]) == DW_TAG_inlined_subroutine || dwarf_tag(&scopes[i]) == DW_TAG_subprogram)
			return i;
	return -1;
}

/*
 * The functions at pc, innermost first: each inlined subroutine and then
 * the subprogram they are in, each with its place (pc's line, then each
 * inlined one's call site). dwarf_getscopes() finds the innermost; past an
 * inlined instance it goes on with its abstract definition's scopes, so the
 * chain of callers is the DIE tree's, from dwarf_getscopes_die().
 */
static int walk_scopes(Dwarf_Die *cu, Dwarf_Addr pc, const char *file, int line, int col, struct dise_src *out, int max)
{
	Dwarf_Die *scopes = NULL, *chain = NULL;
	Dwarf_Files *files = NULL;
	size_t nfiles = 0;
	int ns = dwarf_getscopes(cu, pc, &scopes), i = first_function(scopes, ns), n = 0;

	ns = i >= 0 ? dwarf_getscopes_die(&scopes[i], &chain) : 0;
	if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0)
		files = NULL;
	for (i = 0; i < ns && n < max; i++) {
		Dwarf_Die *d = &chain[i];
		int tag = dwarf_tag(d);
		Dwarf_Word v;

		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
			continue;
		set_src(&out[n], dwarf_diename(d), file, line, col);
		out[n].inlined = tag == DW_TAG_inlined_subroutine;
		n++;
		if (tag == DW_TAG_subprogram)
			break;
		file = files && die_udata(d, DW_AT_call_file, &v) == 0 && v < nfiles ? dwarf_filesrc(files, v, NULL, NULL) : NULL;
		line = die_udata(d, DW_AT_call_line, &v) == 0 && v < 1u << 30 ? (int)v : 0;
		col = die_udata(d, DW_AT_call_column, &v) == 0 && v < 1u << 30 ? (int)v : 0;
	}
	free(chain);
	free(scopes);
	return n;
}

int dise_symbols_lookup(dise_symbols *s, const char *path, const uint8_t *build_id, size_t build_id_len,
			uint64_t vaddr, int caller, struct dise_src *out, int max)
{
	struct smod *m;
	Dwarf_Addr addr = caller && vaddr ? vaddr - 1 : vaddr, bias = 0, at;
	Dwarf_Die *cu;
	Dwfl_Line *ln;
	const char *file = NULL;
	int line = 0, col = 0, n = 0;

	if (!s || !path || max <= 0)
		return -EINVAL;
	m = module_get(s, path, build_id, build_id_len);
	if (!m)
		return s->n == MODULES_MAX ? -ENOSPC : -ENOMEM;
	if (!m->mod)
		return 0;
	if ((ln = dwfl_module_getsrc(m->mod, addr)))
		file = dwfl_lineinfo(ln, &at, &line, &col, NULL, NULL);
	if ((cu = dwfl_module_addrdie(m->mod, addr, &bias)))
		n = walk_scopes(cu, addr - bias, file, line, col, out, max);
	if (n == 0 && file) { /* lines but no scopes (assembly): the ELF symbol names the function */
		set_src(&out[0], dwfl_module_addrname(m->mod, addr), file, line, col);
		n = 1;
	}
	return n;
}
