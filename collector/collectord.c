/* SPDX-License-Identifier: MIT */
/*
 * dise-collectord: drains the ring into $DISE_HOME/dise.db.
 *
 * One per user (and per $DISE_HOME): an flock on $DISE_HOME/collector.lock.
 * SIGTERM and SIGINT finish the batch in hand (commit, then release) and
 * exit 0. SIGKILL at any moment loses nothing: see collector/ingest.c.
 * A full disk or a locked database pauses draining and retries; meanwhile
 * the records wait in the ring.
 *
 * When the ring is drained it marks runs whose process is gone without an
 * end as vanished (SIGKILL, the OOM killer).
 *
 * Idle, it sleeps on the ring's wake futex: producers wake it after a
 * commit, with a system call only when it actually sleeps.
 *
 * Readiness: the collector is ready once its database is open and migrated
 * and the ring is mapped. Only then does it write its pid into the lock file
 * (emptied as soon as the lock is taken, so that a previous collector's pid
 * is never read as ours), send READY=1 to $NOTIFY_SOCKET when set, and with
 * --daemon write "ready" into the pipe the launching process waits on: that
 * process exits 0 then, or 1 with the daemon's one-line error.
 *
 * Not yet: detectors, the version store and lineage (the collector issue
 * is open).
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <linux/futex.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "home.h"
#include "config.h"
#include "canary.h"
#include "detect.h"
#include "heal.h"
#include "notify.h"
#include "ingest.h"
#include "metrics.h"
#include "proc.h"
#include "resolve.h"
#include "resolver-loop.h"
#include "status.h"
#include "store.h"

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/*
 * Is the process of a run still there? The pid must exist and must not have
 * started after the run did (else the pid was reused). /proc/<pid>/stat
 * gives the start in clock ticks since boot; the run's start is
 * CLOCK_MONOTONIC, which the same clock as boot time here unless the
 * machine was suspended since, hence the generous second of slack.
 *
 * A process writes its EXIT before it is gone, but the ring may still hold
 * that EXIT unread: a process seen gone counts as gone only if the ring
 * (arg) is empty now, after it was seen gone - everything reserved before
 * then has been stored (this thread is the only consumer). Otherwise it
 * counts as alive until the next look, after the next drain.
 */
static int ring_empty(const dise_ring *ring)
{
	struct dise_ring_stats s;

	dise_ring_stats(ring, &s);
	return s.head == s.tail;
}

static int process_alive(uint32_t pid, uint64_t start_ns, void *arg)
{
	struct dise_proc_stat ps;
	long hz = sysconf(_SC_CLK_TCK);
	int r = dise_proc_stat((pid_t)pid, &ps);

	if (r == -ENOENT || r == -ESRCH)
		return !ring_empty(arg);
	if (r < 0 || hz <= 0)
		return 1; /* can't tell: assume alive */
	/* a zombie has ended (its parent has not reaped it yet); a later start is another process with that pid */
	if (ps.state != 'Z' &&
	    (unsigned long long)ps.f[22] * (1000000000ull / (unsigned long long)hz) <= start_ns + 1000000000ull)
		return 1;
	return !ring_empty(arg);
}

/* Changes whenever a route or a version's health changes (busy: 0, and the next look, a second later, sees it). */
static int64_t routes_fingerprint(dise_store *st)
{
	int64_t v = 0;

	dise_store_routes_fingerprint(st, &v);
	return v;
}

/* How many routes the last publication announced in the ring header (-1: none yet). */
static int64_t routes_announced = -1;

static int publish_routes(dise_ingest *in, dise_store *st, const char *cas)
{
	int r = dise_ingest_publish_routes(in, st, cas);

	if (r >= 0)
		routes_announced = r;
	return r;
}

/*
 * The ring header's route count is only a hint, in memory every producer
 * can write: a process (of this uid, or one that dropped privileges but kept
 * its mapping) that clears it makes runs skip their routes. Put it back.
 */
static void routes_reannounce(dise_ring *ring)
{
	if (ring->hdr && routes_announced >= 0 &&
	    atomic_load(&ring->hdr->nroutes) != (uint32_t)routes_announced)
		atomic_store(&ring->hdr->nroutes, (uint32_t)routes_announced);
}

/*
 * --once, with nothing ready to read: done, unless slots are still reserved
 * and not committed (a producer in flight, or one killed while it wrote: a
 * hole). The reader goes past a hole only at its torn deadline (1 s); a
 * --once that ended at it left what lies behind it for the next --once,
 * which stopped there again: that run was never stored (a pool's worker
 * SIGTERMed while it wrote its EXIT; test-endings). So it waits, for at
 * most 3 s from the first such look (*until, 0 before it). Returns 1 when done.
 */
static int once_drained(const dise_ring *ring, uint64_t *until)
{
	if (ring_empty(ring))
		return 1;
	if (!*until)
		*until = mono_ns() + 3000000000ull;
	return mono_ns() >= *until;
}

/*
 * Ingest's cadence under load: records that keep coming (a build, a shell
 * loop: five records a run) are stored a gather's worth per transaction,
 * not one wakeup's worth (a commit costs about what its rows do: the WAL
 * frames of each index's pages it touched, about the same for 20 runs or
 * 100; 100 ms: 48 µs of ingest CPU a run at 1 000 runs/s where 20 ms took
 * 76, bench-collector-cpu, README). Read ahead into memory, asleep on the
 * ring meanwhile until a record that may be a strike (its producer wakes
 * the gather: ring.h, DISE_WAKE_URGENT) or routes to publish store at once
 * (the heal latency); the first record after a quiet moment is stored at
 * once, and a full batch goes on at once (ingest.h).
 */
#define INGEST_GATHER_NS 100000000ull

/* INGEST_GATHER_NS, or $DISE_TEST_GATHER_MS (tests: a gather that only what should end it ends) */
static uint64_t gather_ns(void)
{
	const char *t = getenv("DISE_TEST_GATHER_MS");

	return t && atoi(t) > 0 ? (uint64_t)atoi(t) * 1000000u : INGEST_GATHER_NS;
}

/*
 * The stop signals go to the ingest thread, whose sleep on the ring they end
 * (EINTR; a stop handled just before it is seen by the ring's wait:
 * dise_ring_reader_set_stop): the threads started here block them. Blocked
 * (block 1) around their creation, which they inherit; 0 unblocks.
 */
static void stop_signals(int block)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGINT);
	pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &s, NULL);
}

/*
 * The webhook, in a thread of its own: a slow or dead endpoint never holds
 * up ingest or healing. It looks at the journal about once a second.
 */
static void *notifier_main(void *p)
{
	struct resolver_arg *a = p;
	dise_store *st;

	pthread_setname_np(pthread_self(), "dise-notifier");
	if (dise_store_open(a->db, 0, &st) < 0)
		return NULL;
	while (!stop) {
		dise_notify_pending(st, a->cfg->webhook, a->cfg->webhook_timeout_ms);
		for (int i = 0; i < 10 && !stop; i++)
			nap(100);
	}
	dise_notify_pending(st, a->cfg->webhook, a->cfg->webhook_timeout_ms); /* what the last pass healed */
	dise_store_free(st);
	return NULL;
}

/* --once: give every stored run its version, then run the detectors and the canary rollouts, before exiting. */
static void resolve_all(dise_store *st, const char *cas, const struct dise_config *cfg)
{
	dise_resolver *rs;

	if (dise_resolver_new(st, cas, &rs) < 0)
		return;
	dise_resolver_set_cas_cap(rs, cfg->cas_max_bytes);
	dise_resolver_set_config(rs, cfg);
	while (!stop && dise_resolver_step(rs, 256) > 0)
		;
	dise_resolver_free(rs);
	if (dise_detect(st, &cfg->detect, cfg, wall_ns()) >= 0 && dise_heal_pending(st, cfg) >= 0 &&
	    dise_heal_check_rules(st, cfg) > 0)
		dise_heal_pending(st, cfg);
	if (dise_canary_pass(st, cfg, wall_ns(), 1) > 0) /* the canary rollouts: an abort is healed now */
		dise_heal_pending(st, cfg);
}

/*
 * The ring replaced (`dise ring reset`) or written by someone else: the
 * collector follows or repairs it itself, says so on stderr and in the
 * journal (a failure to reopen only when it changes). Returns what
 * dise_ingest_check() did.
 */
static int ring_check(dise_ingest *in, dise_store *st, struct resolver_arg *ra, const char *ring)
{
	static char last_error[512];
	static uint64_t last_said;        /* when a repair was last journaled */
	static unsigned long long unsaid; /* repairs since, not journaled */
	char what[600];
	int r = dise_ingest_check(in, what, sizeof(what));

	if (r < 0) {
		if (strcmp(what, last_error))
			fprintf(stderr, "dise-collectord: %s\n", what);
		snprintf(last_error, sizeof(last_error), "%s", what);
		return r;
	}
	last_error[0] = '\0';
	if (r == 0)
		return 0;
	if (r == DISE_INGEST_REOPENED)
		dise__resolver_remap(ra, ring);
	/* a writer that keeps scribbling gets one line a minute, not one per wakeup */
	if (r == DISE_INGEST_REPAIRED && last_said && mono_ns() - last_said < 60000000000ull) {
		unsaid++;
		return r;
	}
	if (unsaid) {
		size_t n = strlen(what);

		snprintf(what + n, sizeof(what) - n, " (and %llu repairs in the minute before)", unsaid);
		unsaid = 0;
	}
	last_said = r == DISE_INGEST_REPAIRED ? mono_ns() : last_said;
	fprintf(stderr, "dise-collectord: %s\n", what);
	dise_store_journal_add(st, 0, NULL, 0, "ring", r == DISE_INGEST_REOPENED ? "reopened" : "repaired", what,
			       wall_ns(), 0);
	return r;
}

/*
 * Ingest failed with r (the records wait in the ring): says so on stderr and
 * in the status file (status.h) at the first failure of a run of them, for
 * `dise health` and every reading command. Returns 1 when the collector
 * must stop instead of retrying: a damaged database never mends by itself,
 * and --once does not wait on anything but a busy or full database.
 */
static int ingest_failed(const char *home, int r, int failures, int once)
{
	int fatal = r == -EUCLEAN || (once && r != -EBUSY && r != -ENOSPC && r != -ENOMEM);
	const char *what = r == -EUCLEAN ? "the database is damaged" : strerror(-r);

	if (fatal) {
		fprintf(stderr, "dise-collectord: stopped: storing failed: %s; the records wait in the ring\n", what);
		dise_status_set(home, "stopped: storing failed: %s; the records wait in the ring", what);
		return 1;
	}
	if (failures == 0)
		dise_status_set(home, "storing fails: %s; the records wait in the ring", what);
	if (failures % 50 == 0)
		fprintf(stderr, "dise-collectord: storing failed (%s), will retry\n", what);
	return 0;
}

static int usage(FILE *f, int rc)
{
	fputs("usage: dise-collectord [--foreground | --daemon] [--once] [--batch N]\n"
	      "  --foreground   run in this terminal (the default)\n"
	      "  --daemon       detach and run in the background\n"
	      "  --once         drain what the ring holds, then exit\n"
	      "  --batch N      records per transaction (default 4096)\n"
	      "  --metrics-file PATH  where to write the Prometheus metrics (default: $DISE_METRICS_FILE,\n"
	      "                 else $DISE_HOME/metrics.prom; \"off\": none)\n"
	      "  --metrics-interval S seconds between two writes of the metrics (default 60)\n",
	      f);
	return rc;
}

/* --daemon: the write end of the pipe the launching process waits on, until ready (-1: none) */
static int ready_fd = -1;

/* A startup error: on stderr, and to the launching process (its stderr is the one the user sees). */
static void startup_error(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (ready_fd >= 0) {
		(void)!write(ready_fd, line, (size_t)n);
		close(ready_fd);
		ready_fd = -1;
	}
	fprintf(stderr, "dise-collectord: %.*s", n, line);
}

/*
 * sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET, a path or,
 * with a leading '@', a name in the abstract namespace. Returns 0 when no
 * socket is set, 1 when sent, or -errno.
 */
static int notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char msg[64];
	size_t len;
	socklen_t salen;
	int fd, n, r = 1;

	if (!path || !*path)
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract: the name is the bytes after the NUL, no terminator */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
	n = snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%d", (int)getpid());
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
		r = -errno;
	close(fd);
	return r;
}

/*
 * Ready: the pid into the lock file, READY=1 to the service manager, "ready"
 * to the launching process. In that order, so that whoever learns the
 * collector is ready reads its pid from the lock file.
 */
static void signal_ready(int lockfd)
{
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid()), r;

	(void)!pwrite(lockfd, pid, (size_t)n, 0);
	r = notify_ready();
	if (r < 0)
		fprintf(stderr, "dise-collectord: cannot notify $NOTIFY_SOCKET: %s\n", strerror(-r));
	unsetenv("NOTIFY_SOCKET"); /* not for the programs the healer runs (called before any thread starts) */
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "ready\n", 6);
		close(ready_fd);
		ready_fd = -1;
	}
}

/*
 * The launching process of --daemon: waits until the daemon is ready.
 * Exits 0 on "ready"; 1 with the daemon's error line, or when the daemon
 * ended (the pipe closed) without a word, or after 60 s.
 */
_Noreturn static void wait_ready(int fd)
{
	char buf[1100];
	size_t len = 0;
	struct pollfd pf = { fd, POLLIN, 0 };

	for (;;) {
		ssize_t n;
		int p = poll(&pf, 1, 60000);

		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0) {
			fprintf(stderr, "dise-collectord: the daemon was not ready within 60 s\n");
			_exit(1);
		}
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (len += (size_t)n) == sizeof(buf) - 1)
			break;
	}
	buf[len] = '\0';
	if (!strcmp(buf, "ready\n"))
		_exit(0);
	if (len)
		fprintf(stderr, "dise-collectord: %s%s", buf, buf[len - 1] == '\n' ? "" : "\n");
	else
		fprintf(stderr, "dise-collectord: the daemon ended before it was ready\n");
	_exit(1);
}

/*
 * Detaches (fork, setsid, fork). The first process stays in wait_ready()
 * until the daemon says it is ready; the daemon keeps the write end.
 */
static int daemonize(int can_chdir)
{
	int fds[2], fd, r;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(fds[0]);
		close(fds[1]);
		return r;
	}
	if (pid > 0) {
		close(fds[1]);
		waitpid(pid, NULL, 0); /* the middle process, which exits at once */
		wait_ready(fds[0]);
	}
	close(fds[0]);
	ready_fd = fds[1];
	setsid();
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (can_chdir && chdir("/") < 0) /* do not keep the caller's directory busy */
		return -errno;
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return 0;
}

/*
 * The ring at the path has another layout than this build's (-EPROTO from
 * dise_ingest_new): after an upgrade, an older dise's. Moves it aside
 * (dise_ring_retire_older) and consumes a fresh one; else says, in one
 * line, why not (then -EPROTO: said; or another -errno, said by the caller).
 */
static int retire_older_ring(const char *ring, dise_store *st, dise_ingest **in)
{
	struct dise_ring_retired old;
	int r = dise_ring_retire_older(ring, &old);

	if (r == 1) {
		fprintf(stderr,
			"dise-collectord: the ring '%s' had layout %u, an older dise's: moved to '%s' (this version "
			"cannot read its records) and replaced by a new ring\n",
			ring, old.layout, old.aside);
		return dise_ingest_new(ring, st, in);
	}
	if (r == -EBUSY)
		startup_error("the ring '%s' has layout %u, an older dise's, and its collector still consumes it: stop "
			      "that collector, then start this one (it moves the old ring aside)",
			      ring, old.layout);
	else if (r < 0)
		startup_error("the ring '%s' has layout %u, an older dise's, and cannot be moved aside: %s", ring,
			      old.layout, strerror(-r));
	else if (old.layout > DISE_RING_LAYOUT_VERSION)
		startup_error("the ring '%s' has layout %u, a newer dise's than this collector (layout %u): refusing it",
			      ring, old.layout, DISE_RING_LAYOUT_VERSION);
	else
		startup_error("cannot consume the ring '%s': not a dise ring of layout %u (remove it, or 'dise ring reset')",
			      ring, DISE_RING_LAYOUT_VERSION);
	return -EPROTO;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' }, { "daemon", no_argument, NULL, 'd' },
		{ "once", no_argument, NULL, 'o' },       { "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },       { "metrics-file", required_argument, NULL, 'm' },
		{ "metrics-interval", required_argument, NULL, 'i' }, { NULL, 0, NULL, 0 },
	};
	char home[4096], db[4200], lock[4200], cas[4200], conf[4200], ring[DISE_PATH_MAX], err[512], metrics[4200];
	const char *metrics_arg = getenv("DISE_METRICS_FILE");
	unsigned long metrics_s = 60; /* 0.22 s of CPU over 200,000 runs: 0.4% of a core at 60 s */
	dise_metrics_writer *mw = NULL;
	struct dise_config cfg;
	struct resolver_arg ra = { db, cas, &cfg, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, NULL,
				   { 0 }, PTHREAD_MUTEX_INITIALIZER, &stop };
	pthread_t resolver, notifier;
	int resolver_on = 0, notifier_on = 0;
	struct dise_ingest_stats stats = { 0 };
	struct sigaction sa;
	dise_store *st = NULL;
	dise_ingest *in = NULL;
	int c, once = 0, daemon = 0, lockfd, r, backoff = 0, failed = 0;
	size_t batch = 4096;

	/*
	 * Every pass allocates and frees what it reads (tens of KiB); glibc
	 * gave a thread's freed top back to the kernel each time (madvise: a
	 * twentieth of the resolver's CPU under a steady stream). Kept instead:
	 * the collector's memory stays what its largest pass needed.
	 */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	while ((c = getopt_long(argc, argv, "fdob:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': daemon = 0; break;
		case 'd': daemon = 1; break;
		case 'o': once = 1; break;
		case 'b': batch = strtoul(optarg, NULL, 0); break;
		case 'm': metrics_arg = optarg; break;
		case 'i': metrics_s = strtoul(optarg, NULL, 10); break;
		case 'h': return usage(stdout, 0);
		default: return usage(stderr, 2);
		}
	}
	if (batch == 0 || batch > 1000000) {
		fprintf(stderr, "dise-collectord: --batch must be between 1 and 1000000\n");
		return 2;
	}
	if (metrics_s == 0 || metrics_s > 86400) {
		fprintf(stderr, "dise-collectord: --metrics-interval must be between 1 and 86400 seconds\n");
		return 2;
	}
	r = dise_home(home, sizeof(home));
	if (r < 0) {
		fprintf(stderr, "dise-collectord: cannot make the state directory: %s\n", strerror(-r));
		return 1;
	}
	if (dise_path_join(db, sizeof(db), home, "dise.db") < 0 || dise_path_join(lock, sizeof(lock), home, "collector.lock") < 0 ||
	    dise_path_join(cas, sizeof(cas), home, "cas") < 0 || dise_path_join(conf, sizeof(conf), home, "dise.json") < 0 ||
	    snprintf(metrics, sizeof(metrics), "%s", metrics_arg && metrics_arg[0] ? metrics_arg : "") >= (int)sizeof(metrics) ||
	    (!metrics[0] && dise_path_join(metrics, sizeof(metrics), home, "metrics.prom") < 0)) {
		fprintf(stderr, "dise-collectord: path too long\n");
		return 1;
	}
	r = dise_ring_choose(ring, sizeof(ring));
	if (r < 0) {
		fprintf(stderr, "dise-collectord: no usable ring path: %s\n", strerror(-r));
		return 1;
	}
	if (r == 1)
		fprintf(stderr, "dise-collectord: the default ring path is someone else's or not a ring file: using '%s'\n",
			ring);
	if (dise_config_load(conf, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "dise-collectord: %s\n", err);
		return 1;
	}
	lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (lockfd < 0) {
		fprintf(stderr, "dise-collectord: cannot open '%s': %s\n", lock, strerror(errno));
		return 1;
	}
	{
		struct stat lst;

		if (fstat(lockfd, &lst) < 0 || !S_ISREG(lst.st_mode)) {
			fprintf(stderr, "dise-collectord: '%s' is not a regular file\n", lock);
			return 1;
		}
	}
	if (flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "dise-collectord: another collector runs for '%s'\n", home);
		return 3;
	}
	/* ours now: the pid of the collector before us must not be read as ours; ours comes when ready */
	(void)!ftruncate(lockfd, 0);
	if (daemon && (r = daemonize(ring[0] == '/')) < 0) {
		startup_error("cannot detach: %s", strerror(-r));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	r = dise_store_open(db, 0, &st);
	if (r < 0) {
		const char *why = dise_store_open_errmsg()[0] ? dise_store_open_errmsg() : strerror(-r);

		startup_error("cannot open the database '%s': %s", db, why);
		dise_status_set(home, "stopped: cannot open the database '%s': %s", db, why);
		return 1;
	}
	dise_status_clear(home); /* an error of a collector before this one no longer stands */
	r = dise_ingest_new(ring, st, &in);
	if (r == -EPROTO)
		r = retire_older_ring(ring, st, &in);
	if (r < 0) {
		if (r != -EPROTO)
			startup_error("cannot consume the ring '%s': %s", ring,
				      r == -EBUSY ? "another consumer holds it" : strerror(-r));
		dise_store_free(st);
		return 1;
	}
	uint64_t last_vanish = 0, once_until = 0;
	int64_t routes_fp = routes_fingerprint(st);
	int publish_again = 0;

	dise_ingest_set_stop(in, &stop);
	if (!once)
		dise_ingest_set_gather(in, gather_ns(), &ra.routes_changed);

	publish_routes(in, st, cas); /* what an earlier run of the collector decided */
	dise_ring_map(ring, DISE_RING_WRITE, 0, 0, &ra.wake);
	routes_reannounce(&ra.wake);
	if (cfg.webhook && curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "dise-collectord: cannot initialise libcurl: webhook notifications are off\n");
		free(cfg.webhook);
		cfg.webhook = NULL;
	}
	signal_ready(lockfd); /* the database is open and migrated, the ring mapped; before any thread starts */
	if (!once && (ra.given = dise_known_new()))
		dise_store_set_known(st, ra.given); /* ingest gives the versions the resolver gave */
	stop_signals(1);
	if (!once) {
		resolver_on = pthread_create(&resolver, NULL, dise__resolver_main, &ra) == 0;
		notifier_on = cfg.webhook && pthread_create(&notifier, NULL, notifier_main, &ra) == 0;
	}
	if (strcmp(metrics, "off") != 0 && (r = dise_metrics_writer_start(db, ring, metrics, (unsigned)metrics_s * 1000, &mw)) < 0)
		fprintf(stderr, "dise-collectord: cannot start writing the metrics: %s\n", strerror(-r));
	stop_signals(0);
	while (!stop) {
		uint64_t may_strike = stats.may_strike, unresolved = dise_store_unresolved_starts(st);

		r = dise_ingest_batch(in, batch, &stats);
		if (r < 0) {
			/* a locked or full database: the records wait in the ring; try again, a bit later each time */
			if ((failed = ingest_failed(home, r, backoff, once)))
				break;
			backoff++;
			nap(backoff < 10 ? 10 : 200);
			continue;
		}
		if (backoff)
			dise_status_clear(home); /* storing works again */
		backoff = 0;
		/*
		 * Not read whole (busy): again after the next wait, not at once (the
		 * flag set again would end every wait: a spin while the lock is held).
		 */
		if (atomic_exchange(&ra.routes_changed, 0) || publish_again)
			publish_again = publish_routes(in, st, cas) < 0;
		routes_reannounce(&ra.wake); /* a load, a store only when someone changed it */
		if (r > 0) {
			/*
			 * A bad end that may be a strike: the detectors look at once (the
			 * heal latency). A failing exit that cannot be one (a version
			 * with no baseline: configure's failing probes, a first
			 * version's grep that found nothing) waits for the pass owed,
			 * not a wake of its own.
			 */
			if (stats.may_strike != may_strike)
				atomic_store(&ra.failure_seen, 1);
			if (dise_store_unresolved_starts(st) != unresolved)
				atomic_store(&ra.unresolved, 1);
			if (resolver_on)
				dise__resolver_kick(&ra);
			continue;
		}
		/* drained: is the ring still the file at its path, and sound? */
		if (ring_check(in, st, &ra, ring) == DISE_INGEST_REOPENED)
			publish_routes(in, st, cas); /* the new ring's header announces the routes */
		/* runs whose process is gone without an end vanished (at most once a second) */
		if (once || mono_ns() - last_vanish > 1000000000ull) {
			int v = dise_store_mark_vanished(st, mono_ns(), process_alive, &ra.wake);
			int64_t fp = routes_fingerprint(st);

			if (v > 0) {
				stats.vanished += (uint64_t)v;
				atomic_store(&ra.failure_seen, 1);
				if (resolver_on)
					dise__resolver_kick(&ra);
			}
			/* `dise heal` by hand, or another change: publish (again next time when it could not) */
			if (fp != routes_fp && publish_routes(in, st, cas) >= 0)
				routes_fp = fp;
			last_vanish = mono_ns();
		}
		if (once && once_drained(&ra.wake, &once_until))
			break;
		if (once) {
			dise_ingest_wait(in, 100); /* until it commits, or the reader's torn deadline passes */
			continue;
		}
		/* nothing to read: sleep until a producer says it committed something (or a second passed) */
		dise_ingest_wait(in, 1000);
	}
	if (resolver_on) {
		stop = 1;
		dise__resolver_kick(&ra);
		pthread_join(resolver, NULL);
	}
	if (notifier_on)
		pthread_join(notifier, NULL);
	dise_store_set_known(st, NULL);
	dise_known_free(ra.given);
	if (once && !failed) {
		resolve_all(st, cas, &cfg);
		publish_routes(in, st, cas);
		dise_notify_pending(st, cfg.webhook, cfg.webhook_timeout_ms);
	}
	if (cfg.webhook)
		curl_global_cleanup();
	dise_metrics_writer_stop(mw); /* after the last batch: its last write has everything */
	fprintf(stderr,
		"dise-collectord: stored %llu records, %llu read again and skipped, %llu malformed, %llu runs vanished\n",
		(unsigned long long)stats.stored, (unsigned long long)stats.skipped, (unsigned long long)stats.bad,
		(unsigned long long)stats.vanished);
	dise_ingest_free(in);
	dise_store_free(st);
	dise_config_free(&cfg);
	dise_ring_unmap(&ra.wake);
	return failed;
}
