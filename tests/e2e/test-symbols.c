/* SPDX-License-Identifier: MIT */
/*
 * Crash frames with source file:line and inlined functions, through
 * elfutils (collector/symbols.c): from the program's own DWARF, from a
 * separate debug file named by .gnu_debuglink, and from a debuginfod server
 * (DEBUGINFOD_URLS; here a small HTTP server of the test speaking its
 * protocol). The signature stays module + offset: a crash of the build with
 * DWARF and one of the same build without groups as one.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

/* The line of tests/progs/symprog.c that holds marker. */
static int line_of(const char *marker)
{
	FILE *f = fopen(DISE_SOURCE_DIR "/tests/progs/symprog.c", "r");
	char buf[512];
	int n = 0;

	assert_non_null(f);
	while (fgets(buf, sizeof(buf), f)) {
		n++;
		if (strstr(buf, marker)) {
			fclose(f);
			return n;
		}
	}
	fclose(f);
	fail_msg("no %s in symprog.c", marker);
	return 0;
}

static void crash(struct fixture *f, const char *prog)
{
	char *pre, *argv[] = { (char *)prog_path(prog), NULL };
	const char *env[] = { NULL, f->env_ring, NULL };
	struct run_result r;

	assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
	env[0] = pre;
	assert_int_equal(run_cmd(argv, env, NULL, &r), 0);
	assert_true(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV);
	run_result_free(&r);
	free(pre);
}

/* `dise crashes --json` with f's home and ring and the "K=V" entries of extra (may be NULL). */
static json_t *crashes(struct fixture *f, const char *const extra[])
{
	char *argv[] = { (char *)bin_path("dise"), "crashes", "--json", NULL };
	const char *env[8] = { f->env_ring, f->env_home };
	struct run_result r;
	json_error_t e;
	json_t *v;
	int n = 2;

	while (extra && *extra && n < 7)
		env[n++] = *extra++;
	assert_int_equal(run_cmd(argv, env, NULL, &r), 0);
	if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
		fail_msg("dise crashes: status %d, stderr '%s'", r.status, r.err);
	v = json_loads(r.out, 0, &e);
	if (!v || json_array_size(v) != 1)
		fail_msg("wanted one crash group, got: %s", r.out);
	run_result_free(&r);
	return v;
}

static json_t *top_frame(json_t *groups, size_t k)
{
	return json_array_get(json_object_get(json_array_get(groups, 0), "top_frames"), k);
}

/* Entry i of a frame's source is function at symprog.c:marker's line, inlined or not. */
static void assert_src(json_t *frame, size_t i, const char *function, const char *marker, int inlined)
{
	json_t *o = json_array_get(json_object_get(frame, "source"), i);
	const char *file = json_string_value(json_object_get(o, "file"));
	const char *fn = json_string_value(json_object_get(o, "function"));

	if (!o || !file || !fn)
		fail_msg("no source entry %zu in %s", i, json_dumps(frame, 0));
	assert_string_equal(fn, function);
	assert_true(strlen(file) >= 9 && !strcmp(file + strlen(file) - 9, "symprog.c"));
	assert_int_equal(json_integer_value(json_object_get(o, "line")), line_of(marker));
	assert_int_equal(json_is_true(json_object_get(o, "inlined")), inlined);
}

/*
 * The faulting frame: poke inlined into middle inlined into crash_here; its
 * caller main at the call. named: the ELF symbol names the frame too (not
 * in a build stripped of its .symtab: the names then are the DWARF's only).
 */
static void assert_symprog_source(json_t *groups, int named)
{
	json_t *f0 = top_frame(groups, 0), *f1 = top_frame(groups, 1);

	if (named)
		assert_string_equal(json_string_value(json_object_get(f0, "function")), "crash_here");
	else
		assert_null(json_object_get(f0, "function"));
	assert_int_equal(json_array_size(json_object_get(f0, "source")), 3);
	assert_src(f0, 0, "poke", "LINE_POKE", 1);
	assert_src(f0, 1, "middle", "LINE_MIDDLE", 1);
	assert_src(f0, 2, "crash_here", "LINE_CRASH_HERE", 0);
	assert_int_equal(json_array_size(json_object_get(f1, "source")), 1);
	assert_src(f1, 0, "main", "LINE_MAIN", 0);
}

/* From the program's own DWARF; the text output says the same. */
static void test_symbols_dwarf(void **state)
{
	struct fixture *f = *state;
	char *argv[] = { (char *)bin_path("dise"), "crashes", NULL }, want[128];
	struct run_result r;
	json_t *g;

	crash(f, "symprog");
	collect_once(f, &r);
	run_result_free(&r);
	g = crashes(f, NULL);
	assert_symprog_source(g, 1);
	json_decref(g);
	dise_cmd(f, argv, &r);
	snprintf(want, sizeof(want), "symprog.c:%d in poke (inlined)\n", line_of("LINE_POKE"));
	if (!strstr(r.out, want))
		fail_msg("no '%s' in:\n%s", want, r.out);
	run_result_free(&r);
}

/*
 * The same build stripped of its DWARF, which is in a file named by its
 * .gnu_debuglink: the same lines; and one signature for its crash, the
 * crash of the build with DWARF and that of the build with no symbols at
 * all (signatures are module + offset: nothing regroups).
 * Without the debug file, no lines (they came from it).
 */
static void test_symbols_debuglink(void **state)
{
	struct fixture *f = *state;
	char *debug, *moved;
	struct run_result r;
	json_t *g;

	crash(f, "symprog-stripped");
	crash(f, "symprog");
	crash(f, "symprog-split"); /* the latest: its frames are shown */
	collect_once(f, &r);
	run_result_free(&r);
	g = crashes(f, NULL); /* one group: with DWARF, in a debug file or none, the signature is the same */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(g, 0), "count")), 3);
	assert_true(strstr(json_string_value(json_object_get(top_frame(g, 0), "module")), "symprog-split") != NULL);
	assert_symprog_source(g, 1);
	json_decref(g);

	assert_true(asprintf(&debug, "%s-split.debug", prog_path("symprog")) > 0);
	assert_true(asprintf(&moved, "%s/symprog-split.debug", f->dir) > 0);
	assert_int_equal(rename(debug, moved), 0);
	g = crashes(f, NULL);
	assert_int_equal(rename(moved, debug), 0);
	assert_null(json_object_get(top_frame(g, 0), "source"));
	json_decref(g);
	free(debug);
	free(moved);
}

/*
 * A hostile debug file: a FIFO where the .gnu_debuglink of a copy of
 * symprog-split points (beside it). Opening it would wait for a writer
 * forever; `dise crashes` ends, the frames without lines (the lookup has a
 * deadline, DISE_TEST_FILE_DEADLINE_MS here).
 */
static void test_symbols_fifo_debuglink(void **state)
{
	struct fixture *f = *state;
	char *copy, *fifo, *cmd, *argv[] = { NULL, "segv", NULL };
	const char *env[] = { "DISE_TEST_FILE_DEADLINE_MS=300", NULL };
	struct run_result r;
	json_t *g;

	assert_true(asprintf(&copy, "%s/symprog-split", f->dir) > 0);
	assert_true(asprintf(&fifo, "%s/symprog-split.debug", f->dir) > 0);
	assert_true(asprintf(&cmd, "cp '%s-split' '%s'", prog_path("symprog"), copy) > 0);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	argv[0] = copy;
	{
		char *pre;
		const char *penv[] = { NULL, f->env_ring, NULL };

		assert_true(asprintf(&pre, "LD_PRELOAD=%s", shim_path()) > 0);
		penv[0] = pre;
		assert_int_equal(run_cmd(argv, penv, NULL, &r), 0);
		assert_true(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV);
		run_result_free(&r);
		free(pre);
	}
	collect_once(f, &r);
	run_result_free(&r);
	g = crashes(f, env);
	assert_string_equal(json_string_value(json_object_get(top_frame(g, 0), "module")), copy);
	assert_null(json_object_get(top_frame(g, 0), "source"));
	json_decref(g);
	free(cmd);
	free(fifo);
	free(copy);
}

/* A debuginfod server of one file: GET /buildid/<id>/debuginfo answers path, anything else 404. Never returns. */
_Noreturn static void serve(int ls, const char *id, const char *path)
{
	char want[256];

	snprintf(want, sizeof(want), "GET /buildid/%s/debuginfo ", id);
	for (;;) {
		int c = accept(ls, NULL, NULL);
		char req[4096];
		ssize_t n;
		FILE *in;

		if (c < 0)
			continue;
		n = read(c, req, sizeof(req) - 1);
		req[n > 0 ? n : 0] = '\0';
		if (n > 0 && !strncmp(req, want, strlen(want)) && (in = fopen(path, "rb"))) {
			char buf[65536], head[128];
			struct stat s;
			size_t k;

			fstat(fileno(in), &s);
			snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\nConnection: close\r\n\r\n",
				 (long long)s.st_size);
			(void)!write(c, head, strlen(head));
			while ((k = fread(buf, 1, sizeof(buf), in)) > 0)
				(void)!write(c, buf, k);
			fclose(in);
		} else {
			const char *nf = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

			(void)!write(c, nf, strlen(nf));
		}
		close(c);
	}
}

/* A build with no DWARF and no debuglink: lines only when DEBUGINFOD_URLS names a server that has its debug file. */
static void test_symbols_debuginfod(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	char *urls, *cache, *debug, id[256];
	const char *env[3];
	struct run_result r;
	json_t *g;
	int ls;
	pid_t srv;

	crash(f, "symprog-stripped");
	collect_once(f, &r);
	run_result_free(&r);
	g = crashes(f, NULL);
	assert_null(json_object_get(top_frame(g, 0), "source"));
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(top_frame(g, 0), "build_id")));
	json_decref(g);
	assert_true(strlen(id) >= 16);

	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(ls >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(ls, 16), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
	assert_true(asprintf(&debug, "%s-split.debug", prog_path("symprog")) > 0);
	srv = fork();
	assert_true(srv >= 0);
	if (srv == 0)
		serve(ls, id, debug);
	track_child(srv);
	close(ls);
	assert_true(asprintf(&urls, "DEBUGINFOD_URLS=http://127.0.0.1:%d", ntohs(a.sin_port)) > 0);
	assert_true(asprintf(&cache, "DEBUGINFOD_CACHE_PATH=%s/debuginfod-cache", f->dir) > 0);
	env[0] = urls;
	env[1] = cache;
	env[2] = NULL;
	g = crashes(f, env);
	assert_symprog_source(g, 0);
	json_decref(g);
	kill(srv, SIGKILL);
	waitpid(srv, NULL, 0);
	free(urls);
	free(cache);
	free(debug);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_symbols_dwarf, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_symbols_debuglink, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_symbols_debuginfod, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_symbols_fifo_debuglink, fixture_setup, fixture_teardown),
	};

	unsetenv("DEBUGINFOD_URLS"); /* a login shell's default server must not answer for the files of this build */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
