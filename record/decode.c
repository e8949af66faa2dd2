/* SPDX-License-Identifier: MIT */
/*
 * Decoder for ring records (wire format in include/dise/event.h).
 *
 * Treats its input as hostile: the ring is writable by any process of the
 * user. Fixed parts are copied into aligned structs (so a record of an older,
 * shorter layout reads its missing tail as zero); variable parts are checked
 * to lie inside the record and strings to end in NUL where the length says.
 * The fuzz target tests/fuzz-decode.c drives this file.
 */
#include <errno.h>
#include <string.h>

#include "decode.h"

#define BAD(msg)                   \
	do {                       \
		if (ret_why)       \
			*ret_why = msg; \
		return -EBADMSG;   \
	} while (0)

const char *dise_rec_type_name(unsigned type)
{
	switch (type) {
	case DISE_REC_PAD: return "pad";
	case DISE_REC_START: return "start";
	case DISE_REC_EXEC: return "exec";
	case DISE_REC_EXIT: return "exit";
	case DISE_REC_CRASH: return "crash";
	case DISE_REC_REAP: return "reap";
	case DISE_REC_TEST: return "test";
	default: return "unknown";
	}
}

/* Takes a string of exactly n bytes (NUL included) from [*p, end). */
static int take_str(const uint8_t **p, const uint8_t *end, uint32_t n, const char **ret)
{
	if (n == 0) {
		*ret = "";
		return 0;
	}
	if ((size_t)(end - *p) < n || (*p)[n - 1] != '\0' || memchr(*p, '\0', n) != *p + n - 1)
		return -1;
	*ret = (const char *)*p;
	*p += n;
	return 0;
}

/* argv: count strings, packed in exactly n bytes. */
static int take_argv(const uint8_t **p, const uint8_t *end, uint32_t n, uint32_t count, const char **ret)
{
	const uint8_t *q = *p, *e;
	uint32_t i;

	if ((size_t)(end - *p) < n)
		return -1;
	e = *p + n;
	for (i = 0; i < count; i++) {
		const uint8_t *z = q < e ? memchr(q, '\0', (size_t)(e - q)) : NULL;

		if (!z)
			return -1;
		q = z + 1;
	}
	if (q != e)
		return -1;
	*ret = (const char *)*p;
	*p = e;
	return 0;
}

static void copy_fixed(void *dst, size_t dst_size, const uint8_t *src, size_t have)
{
	memset(dst, 0, dst_size);
	memcpy(dst, src, have < dst_size ? have : dst_size);
}

int dise_record_next_module(const struct dise_record *rec, uint32_t *off, struct dise_module_view *ret)
{
	struct dise_module m;
	const uint8_t *p;

	if (*off + sizeof(m) > rec->modules_len)
		return -ENOENT;
	p = rec->modules + *off;
	memcpy(&m, p, sizeof(m));
	ret->base = m.base;
	ret->end = m.end;
	ret->ino = m.ino;
	ret->build_id = p + offsetof(struct dise_module, build_id);
	ret->build_id_len = m.build_id_len;
	ret->path = (const char *)p + sizeof(m);
	*off += m.size;
	return 0;
}

static int check_modules(struct dise_record *rec, const char **ret_why)
{
	uint32_t off = 0, n = 0;

	while (off < rec->modules_len) {
		struct dise_module m;

		if (rec->modules_len - off < sizeof(m))
			BAD("module entry truncated");
		memcpy(&m, rec->modules + off, sizeof(m));
		if (m.size < sizeof(m) + 1 || m.size > rec->modules_len - off || (m.size & 7))
			BAD("module entry size out of bounds");
		if (m.path_len == 0 || m.path_len > m.size - sizeof(m))
			BAD("module path length out of bounds");
		if (rec->modules[off + sizeof(m) + m.path_len - 1] != '\0' ||
		    memchr(rec->modules + off + sizeof(m), '\0', m.path_len) !=
			    rec->modules + off + sizeof(m) + m.path_len - 1)
			BAD("module path not terminated");
		if (m.build_id_len > DISE_BUILD_ID_MAX)
			BAD("module build-id too long");
		if (m.end < m.base)
			BAD("module range inverted");
		off += m.size;
		n++;
	}
	if (n != rec->u.crash.nmodules)
		BAD("module count does not match");
	rec->nmodules = n;
	return 0;
}

int dise_record_decode(const void *buf, size_t len, struct dise_record *rec, const char **ret_why)
{
	const uint8_t *b = buf, *p, *end;
	struct dise_rec_hdr h;
	size_t fixed;

	memset(rec, 0, sizeof(*rec));
	if (len < sizeof(h))
		BAD("record shorter than its header");
	memcpy(&h, b, sizeof(h));
	if (h.size != len)
		BAD("record size does not match its framing");
	if (h.hdr_size < sizeof(h) || h.hdr_size > len)
		BAD("record header size out of bounds");
	if (h.type > DISE_REC_TYPE_MAX)
		BAD("unknown record type");
	rec->type = h.type;
	rec->hdr = h;
	end = b + len;

	switch (h.type) {
	case DISE_REC_START: {
		struct dise_rec_start *s = &rec->u.start;

		fixed = sizeof(*s);
		if (len < fixed)
			BAD("start record truncated");
		memcpy(s, b, fixed);
		p = b + fixed;
		if (s->exe_len > DISE_PATH_MAX || s->execfn_len > DISE_PATH_MAX || s->cwd_len > DISE_PATH_MAX ||
		    s->argv_len > DISE_ARGV_MAX || s->argv_count > s->argv_len || s->argv_count > s->argc)
			BAD("start record length field out of bounds");
		if (take_str(&p, end, s->exe_len, &rec->exe) || take_str(&p, end, s->execfn_len, &rec->execfn) ||
		    take_str(&p, end, s->cwd_len, &rec->cwd))
			BAD("start record string malformed");
		if (take_argv(&p, end, s->argv_len, s->argv_count, &rec->argv))
			BAD("start record argv malformed");
		rec->argv_len = s->argv_len;
		rec->argv_count = s->argv_count;
		break;
	}
	case DISE_REC_EXEC: {
		struct dise_rec_exec *e = &rec->u.exec;

		fixed = sizeof(*e);
		if (len < fixed)
			BAD("exec record truncated");
		memcpy(e, b, fixed);
		p = b + fixed;
		if (e->path_len > DISE_PATH_MAX || e->argv_len > DISE_ARGV_MAX || e->argv_count > e->argv_len ||
		    e->argv_count > e->argc)
			BAD("exec record length field out of bounds");
		if (take_str(&p, end, e->path_len, &rec->path))
			BAD("exec record path malformed");
		if (take_argv(&p, end, e->argv_len, e->argv_count, &rec->argv))
			BAD("exec record argv malformed");
		rec->argv_len = e->argv_len;
		rec->argv_count = e->argv_count;
		break;
	}
	case DISE_REC_EXIT:
		if (len < sizeof(struct dise_rec_exit))
			BAD("exit record truncated");
		copy_fixed(&rec->u.exit, sizeof(rec->u.exit), b, len);
		break;
	case DISE_REC_CRASH: {
		struct dise_rec_crash *c = &rec->u.crash;

		fixed = sizeof(*c);
		if (len < fixed)
			BAD("crash record truncated");
		memcpy(c, b, fixed);
		p = b + fixed;
		if (c->signo <= 0 || c->signo >= 65)
			BAD("crash signal out of range");
		if (c->nregs > DISE_CRASH_NREGS)
			BAD("crash register count out of range");
		if (c->stack_len > DISE_CRASH_STACK_MAX || c->stack_len > (size_t)(end - p))
			BAD("crash stack length out of bounds");
		rec->stack = p;
		rec->stack_len = c->stack_len;
		p += c->stack_len;
		if (c->modules_len > (size_t)(end - p))
			BAD("crash module map length out of bounds");
		rec->modules = p;
		rec->modules_len = c->modules_len;
		if (check_modules(rec, ret_why) < 0)
			return -EBADMSG;
		break;
	}
	case DISE_REC_REAP: {
		const struct dise_rec_reap *w = &rec->u.reap;

		if (len < sizeof(*w))
			BAD("reap record truncated");
		copy_fixed(&rec->u.reap, sizeof(rec->u.reap), b, len);
		if (w->child_pid == 0 || w->child_pid > INT32_MAX || w->child_pid == h.pid)
			BAD("reap record child pid out of range");
		/* an ended child only: exited (low 7 bits 0), or killed by a signal 1..64 (no stop, no continue) */
		if ((w->status & 0x7f) == 0 ? (w->status & ~0xff00) != 0
					    : (w->status & 0x7f) == 0x7f || (w->status & 0x7f) > 64 || (w->status & ~0xff) != 0)
			BAD("reap record status is not an ending");
		break;
	}
	case DISE_REC_TEST:
		rec->payload = b + h.hdr_size;
		rec->payload_len = (uint32_t)(len - h.hdr_size);
		break;
	default:
		BAD("unknown record type");
	}
	return 0;
}
