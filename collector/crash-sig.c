/* SPDX-License-Identifier: MIT */
/*
 * Crash signatures. A CRASH record is unwound offline (unwind.c); the
 * signature hashes the top frames that lie in a module, each as the
 * module's build-id (or its file name when it has none) and the offset in
 * the module: the same bug gives the same signature across ASLR, across
 * runs and across hosts with the same binaries. Not storage: the store
 * only keeps what this computes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash-sig.h"
#include "record-json.h"
#include "unwind.h"

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/*
 * Two signatures over the same top frames (at most SIGNATURE_FRAMES, those
 * that lie in a module):
 *  - the build-specific one: FNV-1a over (build-id, or the module's file
 *    name, and the offset in the module) of each frame. Stable across ASLR
 *    and across hosts that run the same binaries; two builds never share it.
 *  - the symbolic one: FNV-1a over the signal and the function name of
 *    each frame (offsets and module names ignored), so that a rebuilt
 *    descendant with the same bug (new build-id, moved code) has the same
 *    one. Names are kept mangled (C++): as stable as demangled ones, and no
 *    C++ runtime in the collector. It exists only when every frame it would
 *    hash has a function name, but for frames of libc and the loader (their
 *    local functions are stripped; such a frame is hashed as its module's
 *    name): a stripped frame of the program would make two different
 *    crashes alike, and a rule matched on it would heal wrongly.
 *
 * Both start at the faulting frame, not in the path that reports a fatal
 * error: the leading frames that lie in libc, libpthread or the dynamic
 * loader, or whose function is a known fatal-reporting one (abort, raise,
 * __assert_fail, std::terminate, the JVM's os::abort and VMError, ...),
 * are skipped, up to the first frame that is neither. When every frame is
 * such a frame (a crash inside libc with no caller known), none is skipped.
 * The skipped frames stay in the frames JSON, marked "fatal_path".
 */
#define SIGNATURE_FRAMES 5

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--) {
		h ^= *b++;
		h *= 1099511628211ull;
	}
	return h;
}

/* Modules that only report a fatal error when they are above the program's frames. */
static int runtime_module(const char *path)
{
	static const char *const prefix[] = { "libc.so", "libc-", "libpthread.so", "libpthread-", "ld-linux", "ld-" };
	const char *b = base_name(path);
	size_t i;

	for (i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++)
		if (!strncmp(b, prefix[i], strlen(prefix[i])))
			return 1;
	return 0;
}

/*
 * The qualified name of an Itanium-mangled symbol ("_ZN7VMError14report_and_dieEv"
 * -> "VMError::report_and_die"), without parameters or templates; a C name as it is.
 */
static void qualified_name(const char *sym, char *buf, size_t size)
{
	const char *p = sym;
	size_t n = 0;
	int nested;

	buf[0] = '\0';
	if (strncmp(p, "_Z", 2)) {
		snprintf(buf, size, "%s", sym);
		return;
	}
	p += 2;
	if (*p == 'L')
		p++;
	nested = *p == 'N';
	if (nested)
		p++;
	while (*p >= '1' && *p <= '9') {
		char *end;
		unsigned long len = strtoul(p, &end, 10);

		if (strnlen(end, len) < len || n + len + 3 > size)
			break;
		if (n) {
			memcpy(buf + n, "::", 2);
			n += 2;
		}
		memcpy(buf + n, end, len);
		n += len;
		buf[n] = '\0';
		p = end + len;
		if (!nested)
			break;
	}
}

/* Functions that report a fatal error (by their qualified name; "X::*": every member of X). */
static int fatal_function(const char *sym)
{
	static const char *const names[] = {
		"raise", "abort", "gsignal", "pthread_kill", "__pthread_kill_implementation",
		"__pthread_kill_internal", "__assert_fail", "__assert_fail_base", "__assert_perror_fail",
		"__libc_message", "__libc_fatal", "__fortify_fail", "__chk_fail", "__stack_chk_fail",
		"malloc_printerr", "__restore_rt", "std::terminate", "__cxxabiv1::__terminate",
		"__gnu_cxx::__verbose_terminate_handler", "__cxa_throw", "__cxa_rethrow", "__cxa_pure_virtual",
		"_Unwind_RaiseException", "_Unwind_Resume", "os::abort", "os::die", "VMError::*",
		"JVM_handle_linux_signal", "signalHandler", "g_assertion_message", "g_assertion_message_expr",
	};
	char q[256];
	size_t i, len;

	qualified_name(sym, q, sizeof(q));
	if (!q[0])
		return 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		len = strlen(names[i]);
		if (len > 1 && names[i][len - 1] == '*') {
			if (!strncmp(q, names[i], len - 1) && !strchr(q + len - 1, ':'))
				return 1;
		} else if (!strcmp(q, names[i])) {
			return 1;
		}
	}
	return 0;
}

static int fatal_path_frame(const struct dise_frame *f)
{
	if (!f->module)
		return 0; /* no module (JIT code, garbage): it is where the program was */
	return runtime_module(f->module) || (f->symbol[0] && fatal_function(f->symbol));
}

int dise_crash_first_frame(const struct dise_frame *fr, int n)
{
	int i;

	for (i = 0; i < n && fatal_path_frame(&fr[i]); i++)
		;
	return i < n ? i : 0;
}

void dise_crash_signature(const struct dise_record *rec, char sig[24], char sym[24], char **ret_frames)
{
	struct dise_frame *fr = calloc(DISE_MAX_FRAMES, sizeof(*fr));
	json_t *arr = json_array();
	uint64_t h = 14695981039346656037ull, hs = h;
	int n, i, first, used = 0, named = 1;
	int32_t signo = rec->type == DISE_REC_CRASH ? rec->u.crash.signo : 0;

	n = fr ? dise_unwind_crash(rec, fr, DISE_MAX_FRAMES) : -ENOMEM;
	first = n > 0 ? dise_crash_first_frame(fr, n) : 0;
	hs = fnv(hs, &signo, sizeof(signo));
	for (i = 0; i < n; i++) {
		json_t *f = json_pack("{s:I}", "ip", (json_int_t)fr[i].ip);

		if (i < first)
			json_object_set_new(f, "fatal_path", json_true());
		if (fr[i].module) {
			const char *b = base_name(fr[i].module);

			json_object_set_new(f, "module", json_string(fr[i].module));
			json_object_set_new(f, "offset", json_integer((json_int_t)fr[i].module_off));
			if (fr[i].in_file && fr[i].build_id_len) { /* for source lines later (symbols.h), not the signature */
				char hex[2 * DISE_BUILD_ID_MAX + 1];

				dise_build_id_hex(fr[i].build_id, fr[i].build_id_len, hex);
				json_object_set_new(f, "build_id", json_string(hex));
			}
			if (i >= first && used < SIGNATURE_FRAMES) {
				if (fr[i].build_id_len)
					h = fnv(h, fr[i].build_id, fr[i].build_id_len);
				else
					h = fnv(h, b, strlen(b));
				h = fnv(h, &fr[i].module_off, sizeof(fr[i].module_off));
				/*
				 * The function's name with its NUL (not the module's: a new
				 * release may be named otherwise); an unnamed frame of libc
				 * or the loader (a local function of a stripped libc, e.g.
				 * __libc_start_call_main) as its module's name: it is the
				 * same for every crash. An unnamed frame elsewhere leaves no
				 * symbolic signature.
				 */
				if (fr[i].symbol[0])
					hs = fnv(hs, fr[i].symbol, strlen(fr[i].symbol) + 1);
				else if (runtime_module(fr[i].module))
					hs = fnv(hs, b, strlen(b) + 1);
				else
					named = 0;
				used++;
			}
		}
		if (fr[i].symbol[0]) {
			json_object_set_new(f, "function", json_string(fr[i].symbol));
			json_object_set_new(f, "function_offset", json_integer((json_int_t)fr[i].symbol_off));
		}
		json_array_append_new(arr, f);
	}
	snprintf(sig, 24, "%016llx", (unsigned long long)h);
	if (used && named)
		snprintf(sym, 24, "s%015llx", (unsigned long long)(hs >> 4));
	else
		sym[0] = '\0';
	*ret_frames = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	free(fr);
}
