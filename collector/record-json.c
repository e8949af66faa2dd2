/* SPDX-License-Identifier: MIT */
/*
 * Rendering of decoded records. Strings from the ring are data of unknown
 * encoding: a string when they are valid UTF-8, else {"hex": ...} with
 * their exact bytes (dise_json_text), so one odd argv never makes a whole
 * dump unparseable, and nothing of it is lost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "record-json.h"
#include "unwind.h"

const char *dise_signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGFPE: return "SIGFPE";
	case SIGILL: return "SIGILL";
	case SIGABRT: return "SIGABRT";
	case SIGSYS: return "SIGSYS";
	case SIGTRAP: return "SIGTRAP";
	case SIGKILL: return "SIGKILL";
	case SIGTERM: return "SIGTERM";
	case SIGINT: return "SIGINT";
	default: return "SIG?";
	}
}

json_t *dise_json_text(const char *s, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	json_t *j = json_stringn(s, n);
	char *h;
	size_t i;

	if (j)
		return j;
	h = malloc(2 * n + 1);
	if (!h)
		return NULL;
	for (i = 0; i < n; i++) {
		h[2 * i] = digits[(unsigned char)s[i] >> 4];
		h[2 * i + 1] = digits[(unsigned char)s[i] & 15];
	}
	h[2 * n] = '\0';
	j = json_pack("{s:s}", "hex", h);
	free(h);
	return j;
}

char *dise_json_text_bytes(json_t *v)
{
	const char *h = json_string_value(json_object_get(v, "hex"));
	size_t i, n;
	char *b;

	if (json_is_string(v)) {
		b = malloc(json_string_length(v) + 1);
		if (b)
			memcpy(b, json_string_value(v), json_string_length(v) + 1);
		return b;
	}
	if (!h || json_object_size(v) != 1 || (n = strlen(h)) % 2 || !(b = malloc(n / 2 + 1)))
		return NULL;
	for (i = 0; i < n; i += 2) {
		unsigned hi, lo;

		if (sscanf(h + i, "%1x%1x", &hi, &lo) != 2) {
			free(b);
			return NULL;
		}
		b[i / 2] = (char)(hi << 4 | lo);
	}
	b[n / 2] = '\0';
	return b;
}

/* record-json.h */
size_t dise_utf8_len(const unsigned char *s, size_t n)
{
	size_t k, i;
	uint32_t c;

	if (s[0] < 0x80)
		return 1;
	k = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
	if (!k || k > n || (s[0] >= 0xf5))
		return 0;
	c = s[0] & (0x7f >> k);
	for (i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	/* overlong, surrogates, beyond U+10FFFF, and the C1 controls (U+0080..U+009F) */
	if ((k == 3 && c < 0x800) || (k == 4 && c < 0x10000) || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff ||
	    (c >= 0x80 && c <= 0x9f))
		return 0;
	return k;
}

/* Whether string x holds UTF-8 (jansson's own check). */
static int is_utf8(json_t *x)
{
	json_t *j = json_stringn(json_string_value(x), json_string_length(x));

	json_decref(j);
	return j != NULL;
}

void dise_json_text_fix(json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, k, x)
		{
			if (json_is_string(x) && !is_utf8(x))
				json_object_set_new(v, k, dise_json_text(json_string_value(x), json_string_length(x)));
			else
				dise_json_text_fix(x);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
		{
			if (json_is_string(x) && !is_utf8(x))
				json_array_set_new(v, i, dise_json_text(json_string_value(x), json_string_length(x)));
			else
				dise_json_text_fix(x);
		}
	}
}

static json_t *str(const char *s)
{
	json_t *j = dise_json_text(s, strlen(s));

	return j ? j : json_null();
}

static json_t *hex(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return json_string(buf);
}

static json_t *argv_json(const struct dise_record *rec)
{
	json_t *a = json_array();
	const char *p = rec->argv;
	uint32_t i;

	for (i = 0; p && i < rec->argv_count; i++) {
		json_array_append_new(a, str(p));
		p += strlen(p) + 1;
	}
	return a;
}

static json_t *file_id_json(const struct dise_file_id *id)
{
	return json_pack("{s:I,s:I,s:I,s:I}", "dev", (json_int_t)id->dev, "ino", (json_int_t)id->ino, "size",
			 (json_int_t)id->size, "mtime_ns", (json_int_t)id->mtime_ns);
}

void dise_build_id_hex(const uint8_t *b, uint32_t n, char *out)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

static const char *exit_how(unsigned how)
{
	switch (how) {
	case DISE_EXIT_MAIN: return "main";
	case DISE_EXIT_EXIT: return "exit";
	case DISE_EXIT__EXIT: return "_exit";
	case DISE_EXIT__EXIT2: return "_Exit";
	case DISE_EXIT_TRACED: return "traced";
	case DISE_EXIT_DETACHED: return "detached";
	default: return "unknown";
	}
}

static const char *exec_call(unsigned c)
{
	static const char *names[] = { "?",     "execve", "execv",  "execvp",  "execvpe",
				       "execl", "execlp", "execle", "fexecve", "route" };

	return c < sizeof(names) / sizeof(names[0]) ? names[c] : "?";
}

static json_t *crash_json(const struct dise_record *rec)
{
	const struct dise_rec_crash *c = &rec->u.crash;
	struct dise_frame *frames = calloc(DISE_MAX_FRAMES, sizeof(*frames));
	json_t *o = json_object(), *mods = json_array(), *fr = json_array();
	struct dise_module_view mv;
	uint32_t off = 0;
	char bid[2 * DISE_BUILD_ID_MAX + 1];
	int n, i;

	json_object_set_new(o, "signal", json_integer(c->signo));
	json_object_set_new(o, "signal_name", json_string(dise_signal_name(c->signo)));
	json_object_set_new(o, "si_code", json_integer(c->si_code));
	json_object_set_new(o, "fault_addr", hex(c->fault_addr));
	json_object_set_new(o, "ip", hex(c->regs[DISE_REG_IP]));
	json_object_set_new(o, "sp", hex(c->regs[DISE_REG_SP]));
	json_object_set_new(o, "main_thread", json_boolean(!(c->flags & DISE_CRASH_OTHER_THREAD)));
	json_object_set_new(o, "elapsed_ns", json_integer((json_int_t)c->elapsed_ns));
	json_object_set_new(o, "stack_bytes", json_integer(rec->stack_len));
	json_object_set_new(o, "stack_truncated", json_boolean(c->flags & DISE_CRASH_STACK_TRUNC));
	json_object_set_new(o, "modules_truncated", json_boolean(c->flags & DISE_CRASH_MODULES_TRUNC));
	json_object_set_new(o, "reraised", json_boolean(c->flags & DISE_CRASH_RERAISED));
	while (dise_record_next_module(rec, &off, &mv) == 0) {
		dise_build_id_hex(mv.build_id, mv.build_id_len, bid);
		json_array_append_new(mods, json_pack("{s:o,s:o,s:o,s:s}", "path", str(mv.path), "base", hex(mv.base),
						      "end", hex(mv.end), "build_id", bid));
	}
	json_object_set_new(o, "modules", mods);
	n = frames ? dise_unwind_crash(rec, frames, DISE_MAX_FRAMES) : -ENOMEM;
	for (i = 0; i < n; i++) {
		json_t *f = json_pack("{s:o}", "ip", hex(frames[i].ip));

		if (frames[i].module) {
			json_object_set_new(f, "module", str(frames[i].module));
			json_object_set_new(f, "offset", hex(frames[i].module_off));
			dise_build_id_hex(frames[i].build_id, frames[i].build_id_len, bid);
			json_object_set_new(f, "build_id", json_string(bid));
		}
		if (frames[i].symbol[0]) {
			json_object_set_new(f, "function", str(frames[i].symbol));
			json_object_set_new(f, "function_offset", hex(frames[i].symbol_off));
		}
		json_array_append_new(fr, f);
	}
	if (n < 0)
		json_object_set_new(o, "unwind_error", json_string(strerror(-n)));
	json_object_set_new(o, "frames", fr);
	free(frames);
	return o;
}

json_t *dise_record_to_json(const struct dise_record *rec, uint64_t id, uint64_t epoch)
{
	const struct dise_rec_hdr *h = &rec->hdr;
	char eb[24];
	json_t *o;

	snprintf(eb, sizeof(eb), "%016" PRIx64, epoch);
	o = json_pack("{s:I,s:i,s:I,s:s,s:s,s:I,s:I,s:I,s:I}", "id", (json_int_t)id, "shard", (int)(id >> 56),
		      "pos", (json_int_t)(id & ((UINT64_C(1) << 56) - 1)), "epoch", eb, "type",
		      dise_rec_type_name(rec->type), "pid", (json_int_t)h->pid, "tid", (json_int_t)h->tid, "mono_ns",
		      (json_int_t)h->mono_ns, "run_start_ns", (json_int_t)h->run_start_ns);
	if (!o)
		return NULL;
	switch (rec->type) {
	case DISE_REC_START: {
		const struct dise_rec_start *s = &rec->u.start;

		json_object_set_new(o, "wall_ns", json_integer((json_int_t)s->wall_ns));
		json_object_set_new(o, "ppid", json_integer(s->ppid));
		json_object_set_new(o, "uid", json_integer(s->uid));
		json_object_set_new(o, "fork", json_boolean(s->flags & DISE_START_FORK));
		json_object_set_new(o, "attached", json_boolean(s->flags & DISE_START_ATTACHED));
		if (rec->exe[0]) /* the shim leaves it out when execfn names the executable */
			json_object_set_new(o, "exe", str(rec->exe));
		json_object_set_new(o, "execfn", str(rec->execfn));
		json_object_set_new(o, "cwd", str(rec->cwd));
		json_object_set_new(o, "argc", json_integer(s->argc));
		json_object_set_new(o, "argv", argv_json(rec));
		json_object_set_new(o, "argv_truncated", json_boolean(s->flags & DISE_START_ARGV_TRUNC));
		if (!(s->flags & DISE_START_NO_EXE))
			json_object_set_new(o, "exe_id", file_id_json(&s->exe));
		if (!(s->flags & DISE_START_NO_SCRIPT))
			json_object_set_new(o, "script_id", file_id_json(&s->script));
		break;
	}
	case DISE_REC_EXEC:
		json_object_set_new(o, "call", json_string(exec_call(rec->u.exec.call)));
		json_object_set_new(o, "path", str(rec->path));
		json_object_set_new(o, "argc", json_integer(rec->u.exec.argc));
		json_object_set_new(o, "argv", argv_json(rec));
		json_object_set_new(o, "elapsed_ns", json_integer((json_int_t)rec->u.exec.elapsed_ns));
		break;
	case DISE_REC_EXIT: {
		const struct dise_rec_exit *e = &rec->u.exit;

		json_object_set_new(o, "status", json_integer(e->status));
		json_object_set_new(o, "how", json_string(exit_how(e->how)));
		json_object_set_new(o, "elapsed_ns", json_integer((json_int_t)e->elapsed_ns));
		json_object_set_new(o, "user_ns", json_integer((json_int_t)e->user_ns));
		json_object_set_new(o, "sys_ns", json_integer((json_int_t)e->sys_ns));
		json_object_set_new(o, "maxrss_kb", json_integer((json_int_t)e->maxrss_kb));
		break;
	}
	case DISE_REC_CRASH:
		json_object_update_new(o, crash_json(rec));
		break;
	case DISE_REC_REAP: {
		const struct dise_rec_reap *w = &rec->u.reap;

		json_object_set_new(o, "child_pid", json_integer(w->child_pid));
		json_object_set_new(o, "status", json_integer(w->status));
		json_object_set_new(o, "user_ns", json_integer((json_int_t)w->user_ns));
		json_object_set_new(o, "sys_ns", json_integer((json_int_t)w->sys_ns));
		json_object_set_new(o, "maxrss_kb", json_integer((json_int_t)w->maxrss_kb));
		break;
	}
	case DISE_REC_TEST:
		json_object_set_new(o, "payload_bytes", json_integer(rec->payload_len));
		break;
	}
	return o;
}

void dise_record_print(FILE *f, const struct dise_record *rec, uint64_t id)
{
	const struct dise_rec_hdr *h = &rec->hdr;
	const char *p = rec->argv;
	uint32_t i;

	char ids[32];

	snprintf(ids, sizeof(ids), "%u:%" PRIu64, (unsigned)(id >> 56), id & ((UINT64_C(1) << 56) - 1));
	fprintf(f, "%-8s %-5s pid %-7u", ids, dise_rec_type_name(rec->type), h->pid);
	switch (rec->type) {
	case DISE_REC_START:
		fprintf(f, " %s%s", rec->u.start.flags & DISE_START_FORK ? "fork " : "",
			rec->exe[0] ? rec->exe : rec->execfn);
		for (i = 0; p && i < rec->argv_count; i++, p += strlen(p) + 1)
			fprintf(f, " %s%s", i ? "" : "[", p);
		fprintf(f, "%s cwd %s\n", rec->argv_count ? "]" : "", rec->cwd);
		break;
	case DISE_REC_EXEC:
		fprintf(f, " %s %s\n", exec_call(rec->u.exec.call), rec->path);
		break;
	case DISE_REC_EXIT:
		fprintf(f, " status %d (%s) after %.3f ms, user %.3f ms, sys %.3f ms, maxrss %" PRIu64 " KiB\n",
			rec->u.exit.status, exit_how(rec->u.exit.how), rec->u.exit.elapsed_ns / 1e6,
			rec->u.exit.user_ns / 1e6, rec->u.exit.sys_ns / 1e6, rec->u.exit.maxrss_kb);
		break;
	case DISE_REC_CRASH: {
		struct dise_frame *fr = calloc(DISE_MAX_FRAMES, sizeof(*fr));
		int n = fr ? dise_unwind_crash(rec, fr, DISE_MAX_FRAMES) : -ENOMEM;

		fprintf(f, " %s (si_code %d) at 0x%" PRIx64 " on tid %u\n", dise_signal_name(rec->u.crash.signo),
			rec->u.crash.si_code, rec->u.crash.fault_addr, h->tid);
		for (int k = 0; k < n; k++) {
			fprintf(f, "    #%-2d 0x%016" PRIx64, k, fr[k].ip);
			if (fr[k].symbol[0])
				fprintf(f, " %s+0x%" PRIx64, fr[k].symbol, fr[k].symbol_off);
			if (fr[k].module)
				fprintf(f, " (%s+0x%" PRIx64 ")", fr[k].module, fr[k].module_off);
			fputc('\n', f);
		}
		free(fr);
		break;
	}
	case DISE_REC_REAP: {
		int st = rec->u.reap.status;

		if (WIFEXITED(st))
			fprintf(f, " child %u exited %d\n", rec->u.reap.child_pid, WEXITSTATUS(st));
		else
			fprintf(f, " child %u killed by %s\n", rec->u.reap.child_pid, dise_signal_name(WTERMSIG(st)));
		break;
	}
	default:
		fprintf(f, "\n");
	}
}
