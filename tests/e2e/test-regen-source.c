/* SPDX-License-Identifier: MIT */
/*
 * Healing a compiled tool forward from its source (issue 14, section 1):
 * a small C tool in a git repository the test makes: v1 good, v2 = v1 +
 * two unrelated changes (a new "shout" command, and a crash on greet, the
 * common path). v2 is pruned; regeneration builds candidates from the diff
 * v1 -> v2 in the sandbox (the user's tree only read), keeps the harmless
 * change, reverts the crashing one, and the built artifact is routed and
 * runs. A build failure, a missing artifact, a bad revision and a
 * rev_command printing garbage are each a one-line reason, never a route.
 * And the sandbox's limits (section 3): a fork loop stops at the process
 * limit, a 1 GiB file at the file-size limit, a 4 GiB map at the memory
 * limit, all well within the time limit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "route-util.h"
#include "sandbox.h"

/* v1: greet and version; REV (the build's -DREV) printed by `rev` */
static const char v1_c[] = "#include <stdio.h>\n"
			   "#include <string.h>\n"
			   "#ifndef REV\n"
			   "#define REV \"unknown\"\n"
			   "#endif\n"
			   "\n"
			   "static int greet(const char *who)\n"
			   "{\n"
			   "\tprintf(\"hello %s\\n\", who);\n"
			   "\treturn 0;\n"
			   "}\n"
			   "\n"
			   "/* the commands */\n"
			   "/* of this tool, */\n"
			   "/* one by one */\n"
			   "\n"
			   "int main(int argc, char **argv)\n"
			   "{\n"
			   "\tif (argc > 2 && !strcmp(argv[1], \"greet\"))\n"
			   "\t\treturn greet(argv[2]);\n"
			   "\tif (argc > 1 && !strcmp(argv[1], \"rev\"))\n"
			   "\t\treturn puts(REV) < 0;\n"
			   "\tif (argc > 1 && !strcmp(argv[1], \"version\"))\n"
			   "\t\treturn puts(\"1\") < 0;\n"
			   "\treturn 0;\n"
			   "}\n";

/* v2: v1, a crash in greet, and a new command (shout) far from it */
static const char v2_c[] = "#include <stdio.h>\n"
			   "#include <string.h>\n"
			   "#ifndef REV\n"
			   "#define REV \"unknown\"\n"
			   "#endif\n"
			   "\n"
			   "static int greet(const char *who)\n"
			   "{\n"
			   "\tprintf(\"hello %s\\n\", who);\n"
			   "\tfflush(stdout);\n"
			   "\t*(volatile int *)(who - (long)who) = 1;\n"
			   "\treturn 0;\n"
			   "}\n"
			   "\n"
			   "/* the commands */\n"
			   "/* of this tool, */\n"
			   "/* one by one */\n"
			   "\n"
			   "int main(int argc, char **argv)\n"
			   "{\n"
			   "\tif (argc > 2 && !strcmp(argv[1], \"greet\"))\n"
			   "\t\treturn greet(argv[2]);\n"
			   "\tif (argc > 2 && !strcmp(argv[1], \"shout\"))\n"
			   "\t\treturn printf(\"HELLO %s\\n\", argv[2]) < 0;\n"
			   "\tif (argc > 1 && !strcmp(argv[1], \"rev\"))\n"
			   "\t\treturn puts(REV) < 0;\n"
			   "\tif (argc > 1 && !strcmp(argv[1], \"version\"))\n"
			   "\t\treturn puts(\"1\") < 0;\n"
			   "\treturn 0;\n"
			   "}\n";

#define GIT "git -c user.name=t -c user.email=t@t -c init.defaultBranch=main -C '%s' "

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

/* The repository at f->dir/src: tool.c committed and tagged v1, then v2 (a Makefile-free build: cc). */
static char *make_repo(struct fixture *f)
{
	char *repo, *file;

	assert_true(asprintf(&repo, "%s/src", f->dir) > 0);
	assert_true(asprintf(&file, "%s/tool.c", repo) > 0);
	assert_int_equal(mkdir(repo, 0755), 0);
	sh(GIT "init -q", repo);
	write_text(file, v1_c);
	sh(GIT "add tool.c && " GIT "commit -qm v1 && " GIT "tag v1", repo, repo, repo);
	write_text(file, v2_c);
	sh(GIT "commit -qam v2 && " GIT "tag v2", repo, repo);
	free(file);
	return repo;
}

/* Bytes appended to every binary built (release, and the build command of test_compiled_large): 0 none */
#define PAD_BYTES "5242880"
static int pad;

/* The tool at tag rev of repo, built outside (as a release would be, with -DREV), renamed into place at path. */
static void release(const char *repo, const char *rev, const char *path)
{
	sh("git -C '%s' show '%s:tool.c' > '%s.c' && cc -O1 -DREV='\"%s\"' -o '%s.new' '%s.c' %s '%s.new' && mv '%s.new' '%s'",
	   repo, rev, path, rev, path, path, pad ? "&& head -c " PAD_BYTES " /dev/zero >>" : "&& test -f", path, path, path);
}

/* `dise tool add tool --version label path [--parent parent] [--rev rev]` */
static void add_rev(struct fixture *f, const char *tool, const char *label, const char *path, const char *parent,
		    const char *rev)
{
	char *add[12] = { (char *)bin_path("dise"), "tool", "add", (char *)tool, "--version", (char *)label, (char *)path };
	struct run_result r;
	int k = 7;

	if (parent)
		add[k++] = "--parent", add[k++] = (char *)parent;
	if (rev)
		add[k++] = "--rev", add[k++] = (char *)rev;
	dise_cmd(f, add, &r);
	if (r.status != 0)
		print_error("tool add: %s\n", r.err);
	assert_int_equal(r.status, 0);
	run_result_free(&r);
}

/* dise.json for tool ct: the test command, regenerate (auto), source with build and artifact (and rev_command) */
static void config(struct fixture *f, const char *repo, const char *build, const char *artifact, const char *rev_cmd)
{
	char *json, *path;

	assert_true(asprintf(&json,
			     "{\"tools\": {\"ct\": {\"test_command\": \"$DISE_CANDIDATE greet t > /dev/null && "
			     "$DISE_CANDIDATE version > /dev/null\", \"test_timeout_seconds\": 20, "
			     "\"regenerate\": {\"mode\": \"auto\"}, \"source\": {\"repo\": \"%s\", \"build\": \"%s\", "
			     "\"artifact\": \"%s\"%s%s%s}}}}",
			     repo, build, artifact, rev_cmd ? ", \"rev_command\": \"" : "", rev_cmd ? rev_cmd : "",
			     rev_cmd ? "\"" : "") > 0);
	mkdir(f->home, 0700);
	assert_true(asprintf(&path, "%s/dise.json", f->home) > 0);
	write_text(path, json);
	free(path);
	free(json);
}

/* v1 released at f->dir/ct, v2 over it, `ct greet bob` crashes under the shim, healed by hand: the tool's path. */
static char *story(struct fixture *f, const char *repo, const char *rev1, const char *rev2)
{
	char *path, *argv[] = { NULL, "greet", "bob", NULL };
	struct run_result r;

	assert_true(asprintf(&path, "%s/ct", f->dir) > 0);
	release(repo, "v1", path);
	add_rev(f, "ct", "v1", path, NULL, rev1);
	release(repo, "v2", path);
	add_rev(f, "ct", "v2", path, "v1", rev2);
	argv[0] = path;
	watched(f, argv, &r);
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	heal(f, "ct", NULL); /* v2 pruned, routed to v1; the regeneration runs after */
	collect_once(f, &r);
	run_result_free(&r);
	return path;
}

static void show_mutation_rows(struct fixture *f)
{
	db_print(f, "SELECT id, verdict, reason, hunks, reverted, candidates, duration_ns / 1000000 FROM mutations");
}

static void assert_out(struct fixture *f, const char *path, const char *a1, const char *a2, const char *want)
{
	char *argv[] = { (char *)path, (char *)a1, (char *)a2, NULL };
	struct run_result r;

	watched(f, argv, &r);
	if (strcmp(r.out, want) || !WIFEXITED(r.status) || WEXITSTATUS(r.status))
		print_error("%s %s: got '%s' (status 0x%x), want '%s'\n", path, a1, r.out, r.status, want);
	assert_string_equal(r.out, want);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	run_result_free(&r);
}

/*
 * The story: v1's revision from rev_command (its --rev output), v2's from
 * --rev; the regenerated v3 keeps shout, greet no longer crashes, it is
 * routed and runs; the user's tree is as it was.
 */
static void test_compiled_auto(void **state)
{
	struct fixture *f = *state;
	char *repo, *path, *sql;
	struct run_result r;

	need_sandbox();
	repo = make_repo(f);
	config(f, repo, "cc -O1 -o tool tool.c", "tool", "\\\"$DISE_BINARY\\\" rev");
	path = story(f, repo, NULL, "v2");
	show_mutation_rows(f);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'ct' AND label = 'v2' AND health = 'pruned'"), 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM mutations WHERE tool = 'ct' AND verdict = 'routed' AND hunks = 2 "
				     "AND reverted = 1 AND diff LIKE '%shout%' AND diff NOT LIKE '%volatile%'"),
			 1);
	/* v1's revision came from its rev_command, checked against the repository */
	assert_int_equal(db_count(f, "SELECT count(*) FROM version_revs r JOIN versions v ON v.id = r.version_id "
				     "WHERE v.label = 'v1' AND r.origin = 'rev_command' AND length(r.rev) = 40"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM routes rt JOIN versions v ON v.id = rt.version_id "
				     "WHERE rt.tool = 'ct' AND v.label = 'v3'"),
			 1);
	collect_once(f, &r);
	run_result_free(&r);
	assert_out(f, path, "greet", "bob", "hello bob\n");
	assert_out(f, path, "shout", "x", "HELLO x\n");
	/* the build ran in a scratch copy: the user's tree has no build output, no change */
	assert_true(asprintf(&sql, "test ! -e '%s/tool' && test -z \"$(git -C '%s' status --porcelain)\"", repo, repo) > 0);
	sh("%s", sql);
	free(sql);
	/* and no scratch directory is left in DISE_HOME */
	sh("! ls -d '%s'/regen-* 2>/dev/null", f->home);
	free(path);
	free(repo);
}

/*
 * A compiled tool of 5 MiB (zeros after its ELF image, which the loader
 * never reads): its versions are read to run them, up to the sandbox's
 * 64 MiB file-size limit (a 4 MiB cap on every version's copy made every
 * compiled tool of that size rollback only).
 */
static void test_compiled_large(void **state)
{
	struct fixture *f = *state;
	char *repo, *path;
	struct run_result r;

	need_sandbox();
	pad = 1;
	repo = make_repo(f);
	config(f, repo, "cc -O1 -o tool tool.c && head -c " PAD_BYTES " /dev/zero >> tool", "tool", "\\\"$DISE_BINARY\\\" rev");
	path = story(f, repo, NULL, "v2");
	pad = 0;
	show_mutation_rows(f);
	assert_int_equal(db_count(f, "SELECT count(*) FROM mutations WHERE tool = 'ct' AND verdict = 'routed' AND hunks = 2 "
				     "AND reverted = 1"),
			 1);
	collect_once(f, &r);
	run_result_free(&r);
	assert_out(f, path, "greet", "bob", "hello bob\n");
	assert_out(f, path, "shout", "x", "HELLO x\n");
	free(path);
	free(repo);
}

/* One failing setup: the mutation's verdict and reason (an SQL LIKE pattern, quotes doubled), the route still on v1. */
static void assert_refused(struct fixture *f, const char *verdict, const char *reason_like)
{
	char *sql;

	show_mutation_rows(f);
	assert_true(asprintf(&sql, "SELECT count(*) FROM mutations WHERE tool = 'ct' AND verdict = '%s' AND reason LIKE '%s' "
				   "AND version_id IS NULL AND instr(reason, char(10)) = 0",
			     verdict, reason_like) > 0);
	assert_int_equal(db_count(f, sql), 1);
	free(sql);
	assert_int_equal(db_count(f, "SELECT count(*) FROM routes rt JOIN versions v ON v.id = rt.version_id "
				     "WHERE rt.tool = 'ct' AND v.label = 'v1'"),
			 1);
	assert_int_equal(db_count(f, "SELECT count(*) FROM versions WHERE tool = 'ct' AND label = 'v3'"), 0);
}

static void test_build_fails(void **state)
{
	struct fixture *f = *state;
	char *repo, *path;

	need_sandbox();
	repo = make_repo(f);
	config(f, repo, "cc -O1 -o tool tool.c -DREV=", "tool", NULL); /* REV empty: every build fails */
	path = story(f, repo, "v1", "v2");
	assert_refused(f, "failed", "the ancestor itself does not pass the checks in the sandbox (the build failed (exit 1))");
	free(path);
	free(repo);
}

/* A build that fork-bombs (bounded at 2000) stops at the process limit: rejected, with that reason. */
static void test_build_fork_bomb(void **state)
{
	struct fixture *f = *state;
	char *repo, *path;

	need_sandbox();
	if (!dise_sandbox_has_pids_limit()) {
		print_message("skipped: no writable pids cgroup here, and uid 0 is exempt from RLIMIT_NPROC\n");
		skip();
	}
	repo = make_repo(f);
	config(f, repo, "n=0; while [ $n -lt 2000 ]; do sleep 30 & n=$((n+1)); done; cc -O1 -o tool tool.c", "tool", NULL);
	path = story(f, repo, "v1", "v2");
	assert_refused(f, "failed", "%(the build failed (exit 2: the process limit (512 tasks) was reached))");
	free(path);
	free(repo);
}

static void test_no_artifact(void **state)
{
	struct fixture *f = *state;
	char *repo, *path;

	need_sandbox();
	repo = make_repo(f);
	config(f, repo, "cc -O1 -o tool tool.c", "out/tool", NULL);
	path = story(f, repo, "v1", "v2");
	assert_refused(f, "failed", "%(the build left no artifact at out/tool)");
	free(path);
	free(repo);
}

static void test_bad_rev(void **state)
{
	struct fixture *f = *state;
	char *repo, *path;

	need_sandbox();
	repo = make_repo(f);
	config(f, repo, "cc -O1 -o tool tool.c", "tool", NULL);
	path = story(f, repo, "v1", "deadbeef");
	assert_refused(f, "skipped", "rollback only: v2''s revision ''deadbeef'' is not a commit of %");
	{
		/* a name that could be an option to git is refused at once */
		char *add[] = { (char *)bin_path("dise"), "tool", "add", "ct", "--version", "v9", path, "--rev=--all", NULL };
		struct run_result r;

		dise_cmd(f, add, &r);
		assert_false(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
		assert_non_null(strstr(r.err, "--rev '--all' is not a git revision name"));
		run_result_free(&r);
	}
	free(path);
	free(repo);
}

static void test_rev_command_garbage(void **state)
{
	struct fixture *f = *state;
	char *repo, *path;

	need_sandbox();
	repo = make_repo(f);
	config(f, repo, "cc -O1 -o tool tool.c", "tool", "echo 'ct 1.0 (built by hand)'");
	path = story(f, repo, "v1", NULL);
	assert_refused(f, "skipped", "rollback only: source.rev_command printed ''ct 1.0 (built by hand)'' for v2: not a "
				     "revision");
	free(path);
	free(repo);
}

/* No source, or no revision: rollback only, said in one line. */
static void test_no_source(void **state)
{
	struct fixture *f = *state;
	char *repo, *path, *json, *cfg;

	need_sandbox();
	repo = make_repo(f);
	config(f, repo, "cc -O1 -o tool tool.c", "tool", NULL);
	path = story(f, repo, "v1", NULL); /* v2 has no revision and there is no rev_command */
	assert_refused(f, "skipped", "rollback only: no source revision known for v2 (dise tool add --rev, or "
				     "source.rev_command)");
	/* without "source": the line it always said */
	assert_true(asprintf(&json, "{\"tools\": {\"ct\": {\"test_command\": \"true\", \"regenerate\": {}}}}") > 0);
	assert_true(asprintf(&cfg, "%s/dise.json", f->home) > 0);
	write_text(cfg, json);
	{
		char *again[] = { (char *)bin_path("dise"), "regenerate", "ct", NULL };
		struct run_result r;

		dise_cmd(f, again, &r);
		print_message("%s%s", r.out, r.err);
		assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
		assert_non_null(strstr(r.out, "rollback only: a compiled tool, and no source known for it"));
		run_result_free(&r);
	}
	free(cfg);
	free(json);
	free(path);
	free(repo);
}

/* sh -c script in the sandbox (scratch: f->dir/sb, into *scratch), killed at 60 s: dise_sandbox_run()'s result */
static int boxed(struct fixture *f, const char *script, int *status, char **scratch)
{
	char *argv[] = { "sh", "-c", (char *)script, NULL };
	int64_t wall;

	assert_true(asprintf(scratch, "%s/sb", f->dir) > 0);
	mkdir(*scratch, 0755);
	return dise_sandbox_run(*scratch, "/bin/sh", argv, NULL, NULL, 60000, status, &wall);
}

/*
 * A fork loop (bounded at 2000, each child a 30 s sleep: safe without the
 * limit too) stops at the process limit, long before the time limit; its
 * cgroup is gone after.
 */
static void test_fork_limit(void **state)
{
	struct fixture *f = *state;
	char *scratch, *count, *pat, *n;
	int st = -1;
	glob_t gl;

	need_sandbox();
	if (!dise_sandbox_has_pids_limit()) {
		print_message("skipped: no writable pids cgroup here, and uid 0 is exempt from RLIMIT_NPROC\n");
		skip();
	}
	assert_int_equal(boxed(f, "n=0; while [ $n -lt 2000 ]; do sleep 30 & n=$((n+1)); echo $n > count; done; exit 0",
			       &st, &scratch),
			 0);
	assert_true(asprintf(&count, "%s/count", scratch) > 0);
	n = slurp(count);
	print_message("fork loop: status 0x%x after %s forks, %s\n", st, n ? n : "?", dise_sandbox_last_limit());
	assert_false(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_non_null(n);
	assert_true(atoi(n) > 100 && atoi(n) < 2000);
	assert_non_null(dise_sandbox_last_limit());
	assert_non_null(strstr(dise_sandbox_last_limit(), "process limit"));
	assert_true(asprintf(&pat, "/sys/fs/cgroup/*/dise-sandbox-%d-*", (int)getpid()) > 0);
	assert_int_equal(glob(pat, 0, NULL, &gl), GLOB_NOMATCH);
	free(pat);
	free(n);
	free(count);
	free(scratch);
}

/* A 1 GiB file stops at the file-size limit (64 MiB): the write is refused, the file stays small. */
static void test_file_limit(void **state)
{
	struct fixture *f = *state;
	char *scratch, *big;
	struct stat sb;
	int st = -1;

	need_sandbox();
	assert_int_equal(boxed(f, "dd if=/dev/zero of=big bs=1 count=1 seek=1073741823 2>/dev/null", &st, &scratch), 0);
	print_message("1 GiB file: status 0x%x\n", st);
	assert_false(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(asprintf(&big, "%s/big", scratch) > 0);
	assert_true(stat(big, &sb) < 0 || sb.st_size < (64 << 20) + 1);
	free(big);
	free(scratch);
}

/*
 * No network: a candidate connecting to a port that listens on the host's
 * loopback fails inside the sandbox (exit 7: python ran, its connect
 * failed), and nothing reached the listener; the same command outside the
 * sandbox connects (exit 0), so the check can fail.
 */
static void test_network_contained(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	char *scratch, *script;
	int st = -1, lfd, c;

	need_sandbox();
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	assert_true(asprintf(&script,
			     "python3 -c 'import socket, sys\n"
			     "try:\n    socket.create_connection((\"127.0.0.1\", %d), 5)\n"
			     "except OSError:\n    sys.exit(7)'",
			     ntohs(a.sin_port)) > 0);
	assert_int_equal(boxed(f, script, &st, &scratch), 0);
	print_message("connect from the sandbox: status 0x%x\n", st);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 7);
	c = accept(lfd, NULL, NULL);
	assert_true(c < 0 && errno == EAGAIN);
	/* outside: it connects */
	sh("%s", script);
	c = accept(lfd, NULL, NULL);
	assert_true(c >= 0);
	close(c);
	close(lfd);
	free(script);
	free(scratch);
}

/* A 4 GiB map stops at the memory limit (2 GiB of address space); 1 GiB is allowed. */
static void test_memory_limit(void **state)
{
	struct fixture *f = *state;
	char *scratch, *script;
	int st = -1;

	need_sandbox();
	/* hog copied into the scratch tree: a build tree under /tmp is hidden by the sandbox's private /tmp */
	mkdir(f->dir, 0755);
	sh("mkdir -p '%s/sb' && cp '%s' '%s/sb/hog'", f->dir, prog_path("hog"), f->dir);
	assert_true(asprintf(&script, "./hog mem 4096") > 0);
	assert_int_equal(boxed(f, script, &st, &scratch), 0);
	print_message("4 GiB map: status 0x%x\n", st);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	free(script);
	free(scratch);
	assert_true(asprintf(&script, "./hog mem 1024") > 0);
	assert_int_equal(boxed(f, script, &st, &scratch), 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	free(script);
	free(scratch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_compiled_auto, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_compiled_large, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_build_fails, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_build_fork_bomb, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_no_artifact, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_bad_rev, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rev_command_garbage, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_no_source, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_fork_limit, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_file_limit, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_memory_limit, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_network_contained, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
