/* SPDX-License-Identifier: MIT */
/*
 * Routes (issue 16, items 4-6): a routed run is the original run with other
 * bytes; routes cannot be forged; routes follow content and have no
 * capacity or path-length limit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <glob.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "dise/ring.h"
#include "harness.h"

#include "route-util.h"

/*
 * Observation 2 and 3 for scripts: a routed #! sh script gets exactly the
 * caller's arguments (none shifted in), and finds its lib.sh beside $0.
 */
static void test_routed_sh_script(void **state)
{
	struct fixture *f = *state;
	char *dir, *path, *lib;
	char *argv[6];
	struct run_result r;

	assert_true(asprintf(&dir, "%s/app/bin", f->dir) > 0);
	sh("mkdir -p '%s'", dir);
	assert_true(asprintf(&path, "%s/run.sh", dir) > 0);
	assert_true(asprintf(&lib, "%s/lib.sh", dir) > 0);
	write_file(lib, 0644, "LIBV=beside\n");
	write_file(path, 0755,
		   "#!/bin/sh\n"
		   ". \"$(dirname \"$0\")/lib.sh\" || exit 9\n"
		   "printf 'v1 lib=%s dir=%s argc=%s' \"$LIBV\" \"$(dirname \"$0\")\" \"$#\"\n"
		   "for a in \"$@\"; do printf ' [%s]' \"$a\"; done\n"
		   "echo\n");
	argv[0] = path, argv[1] = "a", argv[2] = "b c", argv[3] = "", argv[4] = "-x", argv[5] = NULL;
	deploy_and_heal(f, "scr", path, "#!/bin/sh\necho v2 broken; exit 3\n", 0755, argv);

	watched(f, argv, &r);
	{
		char *want;

		assert_true(asprintf(&want, "v1 lib=beside dir=%s argc=4 [a] [b c] [] [-x]\n", dir) > 0);
		if (strcmp(r.out, want) != 0)
			print_error("got  %swant %s(stderr %s)\n", r.out, want, r.err);
		assert_string_equal(r.out, want);
		free(want);
	}
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	run_result_free(&r);
	/* the routed copy: beside the original, ours, read-only, named by its content */
	assert_int_equal(db_count(f, "SELECT count(*) FROM route_placements WHERE beside = 1 AND error = 0 AND "
				     "target LIKE '%/app/bin/.dise-%-run.sh'"),
			 1);
	free(dir);
	free(path);
	free(lib);
}

/*
 * Issue 10, observation 4: a routed copy overwritten in place by a
 * same-user process (made writable, rewritten with the same size, made
 * 0555 again, its mtime set back) is not run: the shim sees another ctime
 * and the program runs as the file it executed, unrouted (never the
 * unknown content under the healthy version's name). The copy is made
 * again at the next publication.
 */
static void test_overwritten_copy_not_run(void **state)
{
	struct fixture *f = *state;
	char *dir, *path, *argv[2], copy[4096];
	struct run_result r;
	glob_t g;

	assert_true(asprintf(&dir, "%s/app", f->dir) > 0);
	sh("mkdir -p '%s'", dir);
	assert_true(asprintf(&path, "%s/tool.sh", dir) > 0);
	write_file(path, 0755, "#!/bin/sh\necho v1 good\n");
	argv[0] = path, argv[1] = NULL;
	deploy_and_heal(f, "ow", path, "#!/bin/sh\necho v2 bad; exit 3\n", 0755, argv);
	watched(f, argv, &r);
	assert_string_equal(r.out, "v1 good\n"); /* routed */
	run_result_free(&r);

	sh("cd '%s' && ls .dise-*-tool.sh > /dev/null", dir);
	{
		char *pat;

		assert_true(asprintf(&pat, "%s/.dise-*-tool.sh", dir) > 0);
		assert_int_equal(glob(pat, 0, NULL, &g), 0);
		assert_int_equal(g.gl_pathc, 1);
		snprintf(copy, sizeof(copy), "%s", g.gl_pathv[0]);
		globfree(&g);
		free(pat);
	}
	/* in place: same inode, same size, mode and mtime as published */
	sh("touch -r '%s' '%s.t' && chmod u+w '%s' && printf '#!/bin/sh\\necho EVIL!!!\\n' 1<> '%s' && chmod 555 '%s' && "
	   "touch -r '%s.t' '%s'",
	   copy, copy, copy, copy, copy, copy, copy);
	watched(f, argv, &r);
	if (strstr(r.out, "EVIL"))
		print_error("the overwritten copy ran: %s\n", r.out);
	assert_null(strstr(r.out, "EVIL"));
	assert_string_equal(r.out, "v2 bad\n"); /* the file it executed, as if no route existed */
	run_result_free(&r);

	/* the next publication checks the copy against the version's hash and makes it again */
	heal(f, "ow", "v2");
	collect_once(f, &r);
	run_result_free(&r);
	watched(f, argv, &r);
	assert_string_equal(r.out, "v1 good\n");
	run_result_free(&r);
	free(path);
	free(dir);
}

/* The same for python3, directly and through #!/usr/bin/env (the interpreter's optional argument). */
static void test_routed_python_script(void **state)
{
	struct fixture *f = *state;
	static const char *const shebang[2] = { "#!/usr/bin/python3\n", "#!/usr/bin/env python3\n" };
	int k;

	if (access("/usr/bin/python3", X_OK) != 0)
		skip();
	for (k = 0; k < 2; k++) {
		char *dir, *path, *text, *mod, *want, tool[8];
		char *argv[5];
		struct run_result r;

		snprintf(tool, sizeof(tool), "py%d", k);
		assert_true(asprintf(&dir, "%s/%s/bin", f->dir, tool) > 0);
		sh("mkdir -p '%s'", dir);
		assert_true(asprintf(&path, "%s/tool.py", dir) > 0);
		assert_true(asprintf(&mod, "%s/helper.py", dir) > 0);
		write_file(mod, 0644, "WHERE = 'beside'\n");
		assert_true(asprintf(&text,
				     "%s"
				     "import os, sys\n"
				     "sys.path.insert(0, os.path.dirname(sys.argv[0]))\n"
				     "import helper\n"
				     "print('v1', helper.WHERE, os.path.dirname(sys.argv[0]), sys.argv[1:])\n",
				     shebang[k]) > 0);
		write_file(path, 0755, text);
		argv[0] = path, argv[1] = "--flag", argv[2] = "two words", argv[3] = "3", argv[4] = NULL;
		free(text);
		assert_true(asprintf(&text, "%simport sys\nprint('v2 broken')\nsys.exit(3)\n", shebang[k]) > 0);
		deploy_and_heal(f, tool, path, text, 0755, argv);

		watched(f, argv, &r);
		assert_true(asprintf(&want, "v1 beside %s ['--flag', 'two words', '3']\n", dir) > 0);
		if (strcmp(r.out, want) != 0)
			print_error("%s: got  %swant %s(stderr %s)\n", shebang[k], r.out, want, r.err);
		assert_string_equal(r.out, want);
		assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
		run_result_free(&r);
		/* the interpreter itself is no route's: python3 runs python3, and no copy lies beside it */
		{
			char *py[] = { "/usr/bin/env", "python3", "-c",
				       "import glob, os, sys; print(len(glob.glob(os.path.dirname(os.path.realpath("
				       "sys.executable)) + '/.dise-*')))",
				       NULL };

			watched(f, py, &r);
			assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
			assert_string_equal(r.out, "0\n");
			run_result_free(&r);
		}
		free(want);
		free(text);
		free(mod);
		free(path);
		free(dir);
	}
}

/*
 * Observation 3 for a binary: a routed ELF finds ../etc/app.conf relative
 * to /proc/self/exe, with the same argv[0] and arguments.
 */
static void test_routed_binary_finds_its_config(void **state)
{
	struct fixture *f = *state;
	char *dir, *path, *conf, *want;
	char *argv[4];
	struct run_result r;
	struct stat st;

	assert_true(asprintf(&dir, "%s/opt/app", f->dir) > 0);
	sh("mkdir -p '%s/bin' '%s/etc'", dir, dir);
	assert_true(asprintf(&conf, "%s/etc/app.conf", dir) > 0);
	write_file(conf, 0644, "from-etc\n");
	assert_true(asprintf(&path, "%s/bin/app", dir) > 0);
	sh("cp '%s' '%s'", prog_path("selfconf"), path);
	assert_int_equal(stat(path, &st), 0);
	argv[0] = path, argv[1] = "x y", argv[2] = "z", argv[3] = NULL;
	{
		/* v2: another build (other bytes) that exits 3 */
		char *argv2[] = { path, NULL };

		tool_add(f, "selfapp", "v1", path, NULL);
		sh("cp '%s' '%s.new' && mv '%s.new' '%s'", prog_path("exitcode"), path, path, path);
		tool_add(f, "selfapp", "v2", path, "v1");
		watched(f, argv2, &r);
		run_result_free(&r);
		collect_once(f, &r);
		run_result_free(&r);
		heal(f, "selfapp", "v2");
		collect_once(f, &r);
		run_result_free(&r);
	}
	argv[0] = path; /* run_cmd executes argv[0] */
	watched(f, argv, &r);
	assert_true(asprintf(&want, "size=%lld argc=3 [%s] [x y] [z] conf=from-etc\n", (long long)st.st_size, path) > 0);
	if (strcmp(r.out, want) != 0)
		print_error("got  %swant %s(stderr %s)\n", r.out, want, r.err);
	assert_string_equal(r.out, want);
	assert_true(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	run_result_free(&r);
	free(want);
	free(conf);
	free(path);
	free(dir);
}

/*
 * Observation 8: a route (written by the owner here, as a forger of the
 * same uid could only do by writing the route file) to a target that
 * others may write is refused; the same route to a safe copy is followed
 * (the control: the check is what refused it).
 */
static void test_forged_route_writable_target(void **state)
{
	struct fixture *f = *state;
	char *victim, *evil, *rp, *safe;
	struct dise_route_in e;
	struct run_result r;
	char *argv[3];
	dise_ring ring;

	assert_true(asprintf(&victim, "%s/victim", f->dir) > 0);
	assert_true(asprintf(&evil, "%s/evil", f->dir) > 0);
	assert_true(asprintf(&safe, "%s/safe", f->dir) > 0);
	sh("cp '%s' '%s' && cp '%s' '%s' && cp '%s' '%s'", prog_path("exitcode"), victim, prog_path("crasher"), evil,
	   prog_path("crasher"), safe);
	assert_int_equal(chmod(evil, 0777), 0);
	assert_int_equal(chmod(safe, 0555), 0); /* as the collector makes its copies: unwritable */
	rp = routes_file(f);
	assert_int_equal(dise_ring_map(f->ring, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &ring), 0);
	atomic_store(&ring.hdr->nroutes, 1);

	memset(&e, 0, sizeof(e));
	file_id_of(victim, &e.from);
	target_of(evil, &e);
	e.target = evil;
	assert_int_equal(dise_routes_write(rp, &e, 1), 0);
	argv[0] = victim, argv[1] = "0", argv[2] = NULL;
	watched(f, argv, &r);
	assert_string_equal(r.out, "exiting with 0 via main\n"); /* its own bytes: exitcode */
	run_result_free(&r);

	/* a target whose identity is not the published one (replaced since) is refused too */
	target_of(safe, &e);
	e.to.size++;
	e.target = safe;
	assert_int_equal(dise_routes_write(rp, &e, 1), 0);
	watched(f, argv, &r);
	assert_string_equal(r.out, "exiting with 0 via main\n");
	run_result_free(&r);

	/* the control: the same route to a safe target is followed (crasher with "0": usage, not exitcode's line) */
	target_of(safe, &e);
	assert_int_equal(dise_routes_write(rp, &e, 1), 0);
	watched(f, argv, &r);
	assert_true(strcmp(r.out, "exiting with 0 via main\n") != 0);
	run_result_free(&r);

	/* a route file others may write is no route file */
	target_of(evil, &e);
	assert_int_equal(chmod(evil, 0555), 0); /* unwritable, as the collector's copies are */
	target_of(evil, &e);
	e.target = evil;
	assert_int_equal(dise_routes_write(rp, &e, 1), 0);
	assert_int_equal(chmod(rp, 0666), 0);
	watched(f, argv, &r);
	assert_string_equal(r.out, "exiting with 0 via main\n");
	run_result_free(&r);
	assert_int_equal(chmod(rp, 0600), 0); /* the control */
	watched(f, argv, &r);
	assert_true(strcmp(r.out, "exiting with 0 via main\n") != 0);
	run_result_free(&r);

	dise_ring_unmap(&ring);
	free(rp);
	free(safe);
	free(evil);
	free(victim);
}

/*
 * Observation 8, the privilege drop: a root process maps the ring
 * read-write, drops to nobody, and tries to route root's next run to
 * nobody's file. It cannot write root's route table, and a table it makes
 * itself is not root's. Root's next watched run runs its own file.
 */
static void test_privilege_drop_forgery(void **state)
{
	struct fixture *f = *state;
	struct passwd *pw = getpwnam("nobody");
	char *victim, *shm, *ring, *rp, *evildir, *evil;
	struct dise_file_id vid;
	struct run_result r;
	pid_t pid;
	int st;

	if (geteuid() != 0 || !pw) {
		print_message("skipped: needs root and a 'nobody' user\n");
		skip();
	}
	/* a /dev/shm of our own: world-writable and sticky, where the ring and its route file live */
	assert_true(asprintf(&shm, "%s/shm", f->dir) > 0);
	sh("mkdir -p '%s' && chmod 1777 '%s' && chmod 755 '%s'", shm, shm, f->dir);
	assert_true(asprintf(&ring, "%s/dise-0", shm) > 0);
	assert_true(asprintf(&rp, "%s.routes", ring) > 0);
	free(f->env_ring);
	assert_true(asprintf(&f->env_ring, "DISE_RING=%s", ring) > 0);
	free(f->ring);
	f->ring = strdup(ring);
	assert_true(asprintf(&victim, "%s/victim", f->dir) > 0);
	sh("cp '%s' '%s'", prog_path("exitcode"), victim);
	file_id_of(victim, &vid);
	assert_true(asprintf(&evildir, "%s/nobody", f->dir) > 0);
	sh("mkdir -p '%s' && chown nobody '%s'", evildir, evildir);
	assert_true(asprintf(&evil, "%s/evil", evildir) > 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dise_ring rw;
		struct dise_route_in e;
		int ok = 1, fd;

		if (dise_ring_map(ring, DISE_RING_WRITE | DISE_RING_CREATE, 0, 0, &rw) < 0)
			_exit(10);
		if (setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
			_exit(11);
		/* nobody's file, which root must never run */
		{
			char cmd[8192];

			snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 755 '%s'", prog_path("crasher"), evil, evil);
			if (system(cmd) != 0)
				_exit(12);
		}
		/* the old attack: the mapping is still writable; the hint is all it reaches */
		atomic_store(&rw.hdr->nroutes, 1);
		/* a route table of nobody's own at root's route path (there is none yet) */
		memset(&e, 0, sizeof(e));
		e.from = vid;
		{
			struct stat s;

			if (stat(evil, &s) != 0)
				_exit(13);
			e.to.dev = s.st_dev, e.to.ino = s.st_ino, e.to.size = (uint64_t)s.st_size;
			e.to.mtime_ns = (int64_t)s.st_mtim.tv_sec * 1000000000 + s.st_mtim.tv_nsec;
		}
		e.target = evil;
		if (dise_routes_write(rp, &e, 1) != 0)
			ok = 0; /* even writing it must be possible here, or the test shows nothing */
		fd = open(rp, O_RDWR);
		if (fd >= 0)
			close(fd); /* nobody's own file: writable by it, and not root's */
		_exit(ok ? 0 : 14);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	{
		struct stat s;

		assert_int_equal(stat(rp, &s), 0);
		assert_int_equal(s.st_uid, pw->pw_uid); /* the forged table is there */
	}
	{
		char *argv[] = { victim, "0", NULL };

		watched(f, argv, &r);
		assert_string_equal(r.out, "exiting with 0 via main\n"); /* root ran its own file */
		run_result_free(&r);
	}
	/* the control: root's own table with the same route to a root-owned copy is followed */
	{
		struct dise_route_in e;
		char *mine, *argv[] = { victim, "0", NULL };

		assert_true(asprintf(&mine, "%s/mine", f->dir) > 0);
		sh("cp '%s' '%s' && chmod 555 '%s'", prog_path("crasher"), mine, mine);
		unlink(rp);
		memset(&e, 0, sizeof(e));
		e.from = vid;
		target_of(mine, &e);
		e.target = mine;
		assert_int_equal(dise_routes_write(rp, &e, 1), 0);
		watched(f, argv, &r);
		assert_true(strcmp(r.out, "exiting with 0 via main\n") != 0);
		run_result_free(&r);
		free(mine);
		/* and nobody can neither write nor replace root's table now */
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			if (setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
				_exit(11);
			if (open(rp, O_RDWR) >= 0 || errno != EACCES)
				_exit(20);
			if (unlink(rp) == 0)
				_exit(21);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	free(evil);
	free(evildir);
	free(victim);
	free(rp);
	free(ring);
	free(shm);
}

/*
 * Observation 10: the pruned content appearing again at the path (touch:
 * a new mtime; a re-push with mv: a new inode) is routed once the
 * collector saw one run of it, without a new heal or a restart.
 */
static void test_route_follows_content(void **state)
{
	struct fixture *f = *state;
	char *path, *copy, out[4096];
	char *argv[3];
	struct dise_file_id id;
	struct run_result r;
	int k;

	assert_true(asprintf(&path, "%s/follow", f->dir) > 0);
	assert_true(asprintf(&copy, "%s/follow.pruned", f->dir) > 0);
	sh("cp '%s' '%s'", prog_path("exitcode"), path);
	argv[0] = path, argv[1] = "0", argv[2] = NULL;
	{
		struct run_result rr;

		tool_add(f, "follow", "v1", path, NULL);
		sh("cp '%s' '%s.new' && mv '%s.new' '%s' && cp '%s' '%s'", prog_path("crasher"), path, path, path, path,
		   copy);
		tool_add(f, "follow", "v2", path, "v1");
		watched(f, argv, &rr);
		run_result_free(&rr);
		collect_once(f, &rr);
		run_result_free(&rr);
		heal(f, "follow", "v2");
	}
	collector_start(f, "--foreground", NULL, NULL);
	file_id_of(path, &id);
	assert_true(wait_for(routed(f, &id, out, sizeof(out)), WAIT_MS));
	for (k = 0; k < 2; k++) {
		if (k == 0)
			sh("touch -d '2001-01-01' '%s'", path); /* the same inode, another mtime */
		else
			sh("cp '%s' '%s.new' && mv '%s.new' '%s'", copy, path, path, path); /* a new inode */
		file_id_of(path, &id);
		assert_false(routed(f, &id, out, sizeof(out)));
		watched(f, argv, &r); /* its first run: recorded (it may run the pruned bytes) */
		run_result_free(&r);
		assert_true(wait_for(routed(f, &id, out, sizeof(out)), WAIT_MS));
		watched(f, argv, &r); /* the next one is routed */
		assert_string_equal(r.out, "exiting with 0 via main\n");
		run_result_free(&r);
	}
	collector_stop(f);
	free(copy);
	free(path);
}

/*
 * Observation 8 (path length) and 11 (capacity): a table of 1000 routes
 * with targets of 3000 bytes is written and every route is found; and a
 * heal under a DISE_HOME whose store path is longer than 216 bytes is
 * published and followed.
 */
static void test_no_capacity_or_path_limit(void **state)
{
	struct fixture *f = *state;
	enum { N = 1000 };
	struct dise_route_in *e = calloc(N, sizeof(*e));
	char **t = calloc(N, sizeof(*t));
	char *rp = routes_file(f), out[4096];
	int i;

	assert_non_null(e);
	assert_non_null(t);
	for (i = 0; i < N; i++) {
		t[i] = malloc(3001);
		assert_non_null(t[i]);
		memset(t[i], 'a' + i % 26, 3000);
		t[i][0] = '/';
		snprintf(t[i] + 2990, 11, "%08d", i);
		e[i].from.dev = 1, e[i].from.ino = (uint64_t)i * 7919, e[i].from.size = (uint64_t)i, e[i].from.mtime_ns = i;
		e[i].to.ino = (uint64_t)i;
		e[i].target = t[i];
	}
	assert_int_equal(dise_routes_write(rp, e, N), 0);
	for (i = 0; i < N; i++) {
		struct dise_file_id to;

		assert_int_equal(dise_routes_lookup(rp, (uint32_t)geteuid(), &e[i].from, out, sizeof(out), &to, NULL, NULL, NULL), 1);
		assert_string_equal(out, t[i]);
		assert_int_equal(to.ino, (uint64_t)i);
	}
	{
		struct dise_file_id none = { 2, 3, 4, 5 }, to;

		assert_int_equal(dise_routes_lookup(rp, (uint32_t)geteuid(), &none, out, sizeof(out), &to, NULL, NULL, NULL), 0);
	}
	for (i = 0; i < N; i++)
		free(t[i]);
	free(t);
	free(e);
	free(rp);

	/* a long DISE_HOME: the store's copy's path is far beyond 216 bytes; so is the tool's directory */
	{
		char *home, *dir, *path, *argv[3];
		struct run_result r;

		assert_true(asprintf(&dir, "%s/%0200d/%0100d", f->dir, 0, 0) > 0);
		sh("mkdir -p '%s'", dir);
		assert_true(asprintf(&home, "%s/home", dir) > 0);
		free(f->home);
		f->home = home;
		free(f->env_home);
		assert_true(asprintf(&f->env_home, "DISE_HOME=%s", home) > 0);
		assert_true(asprintf(&path, "%s/longtool", dir) > 0);
		sh("cp '%s' '%s'", prog_path("exitcode"), path);
		argv[0] = path, argv[1] = "0", argv[2] = NULL;
		tool_add(f, "long", "v1", path, NULL);
		sh("cp '%s' '%s.new' && mv '%s.new' '%s'", prog_path("crasher"), path, path, path);
		tool_add(f, "long", "v2", path, "v1");
		watched(f, argv, &r);
		run_result_free(&r);
		collect_once(f, &r);
		run_result_free(&r);
		heal(f, "long", "v2");
		collect_once(f, &r);
		run_result_free(&r);
		watched(f, argv, &r);
		assert_string_equal(r.out, "exiting with 0 via main\n"); /* v1's bytes */
		run_result_free(&r);
		free(path);
		free(dir);
	}
}

/*
 * Where no copy can be placed beside the original (here: its name is taken
 * by a directory; for a user, a directory not writable), the route runs the
 * store's copy, and `dise health` says so - before a heal for the
 * directory a user cannot write, after it for the route in effect.
 */
static void test_route_from_store_is_flagged(void **state)
{
	struct fixture *f = *state;
	char *dir, *path, *argv[3], sha[65] = "";
	struct run_result r;
	json_t *j;
	FILE *p;

	assert_true(asprintf(&dir, "%s/ro", f->dir) > 0);
	sh("mkdir -p '%s'", dir);
	assert_true(asprintf(&path, "%s/rotool", dir) > 0);
	sh("cp '%s' '%s'", prog_path("exitcode"), path);
	argv[0] = path, argv[1] = "0", argv[2] = NULL;
	tool_add(f, "ro", "v1", path, NULL);
	{
		char *cmd;

		assert_true(asprintf(&cmd, "sha256sum '%s'", path) > 0);
		p = popen(cmd, "r");
		assert_non_null(p);
		assert_int_equal(fscanf(p, "%64s", sha), 1);
		pclose(p);
		free(cmd);
	}
	sh("mkdir '%s/.dise-%.16s-rotool' && touch '%s/.dise-%.16s-rotool/x'", dir, sha, dir, sha);
	sh("cp '%s' '%s.new' && mv '%s.new' '%s'", prog_path("crasher"), path, path, path);
	tool_add(f, "ro", "v2", path, "v1");
	if (geteuid() != 0) {
		char *health[] = { (char *)bin_path("dise"), "health", NULL };

		sh("chmod 555 '%s'", dir);
		dise_cmd(f, health, &r);
		assert_non_null(strstr(r.out, "if healed, would run from the store (directory not writable): 1 path: "));
		assert_non_null(strstr(r.out, path));
		run_result_free(&r);
	}
	watched(f, argv, &r);
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	heal(f, "ro", "v2");
	collect_once(f, &r);
	run_result_free(&r);
	watched(f, argv, &r);
	assert_string_equal(r.out, "exiting with 0 via main\n"); /* routed all the same */
	run_result_free(&r);
	assert_int_equal(db_count(f, "SELECT count(*) FROM route_placements WHERE tool = 'ro' AND beside = 0 AND "
				     "target LIKE '%/cas/run/%/rotool'"),
			 1);
	{
		char *health[] = { (char *)bin_path("dise"), "health", "--json", NULL };

		j = dise_json(f, health);
		assert_int_equal(json_array_size(json_object_get(j, "routes_from_store")), 1);
		assert_int_equal(json_array_size(json_object_get(j, "routes_not_published")), 0);
		json_decref(j);
	}
	{
		char *health[] = { (char *)bin_path("dise"), "health", NULL };

		dise_cmd(f, health, &r);
		assert_non_null(strstr(r.out, "routed from the store (its directory takes no copy): ro"));
		run_result_free(&r);
	}
	sh("chmod 755 '%s'", dir);
	free(path);
	free(dir);
}

/*
 * Observation 13: on_failure "restore" through a symlinked path restores
 * the file the link names (the link stays a link); a restore that cannot
 * happen is shown by `dise health`.
 */
static char *tool_of(struct fixture *f, const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	char *home, *t = NULL;

	assert_true(asprintf(&home, "%s/dise.db", f->home) > 0);
	db = db_open(home);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT tool FROM runs WHERE execfn = ?1 AND tool IS NOT NULL LIMIT 1", -1,
					    &q, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(q, 1, path, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		t = strdup((const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(db);
	free(home);
	assert_non_null(t);
	return t;
}

/* v1 then v2 at a symlinked path, found by running it (not registered): the path dise knows is the link */
static char *symlinked_deploy(struct fixture *f, const char *name)
{
	char *real, *link, *argv[3];
	struct run_result r;

	assert_true(asprintf(&real, "%s/real/%s", f->dir, name) > 0);
	assert_true(asprintf(&link, "%s/bin/%s", f->dir, name) > 0);
	sh("cp '%s' '%s' && ln -s ../real/%s '%s'", prog_path("exitcode"), real, name, link);
	argv[0] = link, argv[1] = "0", argv[2] = NULL;
	watched(f, argv, &r);
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	sh("cp '%s' '%s.new' && chmod 751 '%s.new' && mv '%s.new' '%s'", prog_path("crasher"), real, real, real, real);
	watched(f, argv, &r);
	run_result_free(&r);
	collect_once(f, &r);
	run_result_free(&r);
	free(real);
	return link;
}

static void test_restore_through_symlink(void **state)
{
	struct fixture *f = *state;
	char *real, *link, *conf, *tool, *link2, *tool2;
	struct run_result r;
	struct stat st;
	FILE *fp;

	sh("mkdir -p '%s/real' '%s/bin' '%s'", f->dir, f->dir, f->home);
	assert_true(asprintf(&conf, "%s/dise.json", f->home) > 0);
	fp = fopen(conf, "w");
	assert_non_null(fp);
	/* by name and by path: whichever names the tool */
	fprintf(fp,
		"{\"tools\": {\"lnkapp\": {\"on_failure\": \"restore\"}, \"lnkapp2\": {\"on_failure\": \"restore\"}, "
		"\"%s/bin/lnkapp\": {\"on_failure\": \"restore\"}, \"%s/bin/lnkapp2\": {\"on_failure\": \"restore\"}}}",
		f->dir, f->dir);
	fclose(fp);
	assert_true(asprintf(&real, "%s/real/lnkapp", f->dir) > 0);
	link = symlinked_deploy(f, "lnkapp");
	tool = tool_of(f, link);
	heal(f, tool, NULL); /* the newest: v2 */
	if (db_count(f, "SELECT count(*) FROM journal WHERE step = 'restore' AND result = 'ok'") != 1) {
		print_error("restore not ok: %lld failed\n",
			    (long long)db_count(f, "SELECT count(*) FROM journal WHERE step = 'restore' AND result = 'failed'"));
		fail();
	}
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode)); /* the link stays a link */
	sh("cmp -s '%s' '%s'", real, prog_path("exitcode")); /* the file it names holds v1 again */
	assert_int_equal(stat(real, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0751);

	/* a restore that cannot happen (the link dangles by then) is in `dise health` */
	link2 = symlinked_deploy(f, "lnkapp2");
	tool2 = tool_of(f, link2);
	sh("rm '%s/real/lnkapp2'", f->dir);
	heal(f, tool2, NULL);
	{
		char *health[] = { (char *)bin_path("dise"), "health", NULL };

		dise_cmd(f, health, &r);
		if (!strstr(r.out, "restore FAILED") || !strstr(r.out, tool2))
			print_error("%s\n", r.out);
		assert_non_null(strstr(r.out, "restore FAILED (the file at the path was not restored; the route stands)"));
		assert_non_null(strstr(r.out, tool2));
		run_result_free(&r);
	}
	free(tool);
	free(tool2);
	free(link2);
	free(conf);
	free(link);
	free(real);
}

/*
 * Observation 11: a route that could not be published (here the route
 * file's path is taken by a directory) is not "done": `dise health` says
 * the route is not in effect, and the journal (so the webhook) hears of it
 * once, however many times publication is tried again.
 */
static void test_unpublished_route_is_shown(void **state)
{
	struct fixture *f = *state;
	char *path, *argv[3], *rp = routes_file(f);
	struct run_result r;
	json_t *j;

	sh("mkdir -p '%s'", rp);
	assert_true(asprintf(&path, "%s/unpub", f->dir) > 0);
	sh("cp '%s' '%s'", prog_path("exitcode"), path);
	argv[0] = path, argv[1] = "0", argv[2] = NULL;
	deploy_and_heal(f, "unpub", path, "#!/bin/sh\nexit 3\n", 0755, argv);
	collect_once(f, &r); /* publication tried again */
	run_result_free(&r);
	watched(f, argv, &r);
	assert_string_equal(r.out, ""); /* the broken v2 runs: nothing routes it */
	run_result_free(&r);
	{
		char *health[] = { (char *)bin_path("dise"), "health", "--json", NULL };

		j = dise_json(f, health);
		assert_int_equal(json_array_size(json_object_get(j, "routes_not_published")), 1);
		json_decref(j);
	}
	{
		char *health[] = { (char *)bin_path("dise"), "health", NULL };

		dise_cmd(f, health, &r);
		assert_non_null(strstr(r.out, "route NOT published: unpub"));
		run_result_free(&r);
	}
	assert_int_equal(db_count(f, "SELECT count(*) FROM journal WHERE step = 'route_publish' AND result = 'failed'"), 1);
	free(path);
	free(rp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_routed_sh_script, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_routed_python_script, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_overwritten_copy_not_run, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_routed_binary_finds_its_config, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_forged_route_writable_target, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_privilege_drop_forgery, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_route_follows_content, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_no_capacity_or_path_limit, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_route_from_store_is_flagged, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_restore_through_symlink, fixture_setup, fixture_teardown),
		cmocka_unit_test_setup_teardown(test_unpublished_route_is_shown, fixture_setup, fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
