/* SPDX-License-Identifier: MIT */
/*
 * Wire format of the records the shim (and `dise attach`) write into the ring.
 *
 * Every record starts with struct dise_rec_hdr whose first field is the total
 * size of the record. Structs are plain fixed-width data in host byte order;
 * new fields are only ever appended, and a reader that knows a shorter struct
 * ignores the tail while a reader that knows a longer one treats the missing
 * tail as zero. Variable-length data (strings, stack bytes, module entries)
 * follows the fixed part, each piece described by a length field of the fixed
 * part. Strings are stored with their NUL terminator and the length counts it.
 *
 * Nothing here is trusted by the consumer: record/decode.c checks every
 * length against the record size before it hands a record on.
 */
#ifndef DISE_EVENT_H
#define DISE_EVENT_H

#include <stdint.h>

enum dise_rec_type {
	DISE_REC_PAD = 0,   /* a discarded reservation: skip */
	DISE_REC_START = 1, /* a run began (new image, or a fork child) */
	DISE_REC_EXEC = 2,  /* the run is about to replace its image */
	DISE_REC_EXIT = 3,  /* the run ended by exit status */
	DISE_REC_CRASH = 4, /* the run got a fatal signal */
	DISE_REC_REAP = 5,  /* the run reaped a child: the child's pid and wait status */
	DISE_REC_TEST = 15, /* tests and benchmarks: opaque payload */
	DISE_REC_TYPE_MAX = 15,
};

/* 32 bytes, at offset 0 of every record. */
struct dise_rec_hdr {
	uint32_t size;         /* bytes of the whole record, this header included */
	uint16_t type;         /* enum dise_rec_type */
	uint16_t hdr_size;     /* sizeof(struct dise_rec_hdr) as the writer knew it */
	uint64_t mono_ns;      /* CLOCK_MONOTONIC when the record was written */
	uint64_t run_start_ns; /* CLOCK_MONOTONIC at the run's START; (pid, run_start_ns) names a run */
	uint32_t pid;
	uint32_t tid;
};

/* Identity of a file as stat(2) saw it: a version is hashed once per identity. */
struct dise_file_id {
	uint64_t dev;
	uint64_t ino;
	uint64_t size;
	int64_t mtime_ns;
};

enum {
	DISE_START_FORK = 1u << 0,       /* a fork child: same image as its parent */
	DISE_START_ARGV_TRUNC = 1u << 1, /* argv did not fit and was cut */
	DISE_START_NO_EXE = 1u << 2,     /* /proc/self/exe could not be read */
	DISE_START_NO_SCRIPT = 1u << 3,  /* AT_EXECFN could not be stat'ed */
	DISE_START_ATTACHED = 1u << 4,   /* written by `dise attach`, not the shim */
	DISE_START_WRAPPED = 1u << 5,    /* written by `dise run` after the child ended: a stand-in,
					    used only when no shim run of that pid began since run_start_ns */
	DISE_START_CORE = 1u << 6,       /* written by dise-coredump from a core: a stand-in, used only when no
					    run of that pid (not ended by exec) began from about run_start_ns on */
};

#define DISE_ARGV_MAX 4096u /* bytes of argv kept in START and EXEC */
#define DISE_PATH_MAX 4096u

/*
 * START. Followed by: exe path, execfn (getauxval(AT_EXECFN): the path
 * that was executed; for a #! script the script), cwd, then argv as
 * argv_count NUL-terminated strings packed in argv_len bytes.
 * The shim leaves exe empty (exe_len 0) when execfn names the file: reading
 * /proc/self/exe costs more than the rest of START. exe and script then
 * both hold the identity of execfn; a reader that needs the interpreter of
 * a script reads the script's #! line.
 */
struct dise_rec_start {
	struct dise_rec_hdr h;
	uint64_t wall_ns; /* CLOCK_REALTIME at START */
	uint32_t ppid;
	uint32_t uid;
	uint32_t flags; /* DISE_START_* */
	uint32_t argc;  /* the real argc, even when argv was cut */
	struct dise_file_id exe;
	struct dise_file_id script; /* stat of execfn; equal to exe for an ELF run directly */
	uint16_t exe_len;
	uint16_t execfn_len;
	uint16_t cwd_len;
	uint16_t argv_len;
	uint32_t argv_count;
	uint32_t reserved;
};

enum dise_exec_call {
	DISE_EXEC_EXECVE = 1,
	DISE_EXEC_EXECV,
	DISE_EXEC_EXECVP,
	DISE_EXEC_EXECVPE,
	DISE_EXEC_EXECL,
	DISE_EXEC_EXECLP,
	DISE_EXEC_EXECLE,
	DISE_EXEC_FEXECVE,
	DISE_EXEC_ROUTE, /* the shim re-executes the routed version in place of a pruned one */
};

/* EXEC. Followed by the path (or the file searched in PATH) and argv. */
struct dise_rec_exec {
	struct dise_rec_hdr h;
	uint32_t call;  /* enum dise_exec_call */
	uint32_t flags; /* DISE_START_ARGV_TRUNC when argv was cut */
	uint64_t elapsed_ns;
	uint32_t argc;
	uint16_t path_len;
	uint16_t argv_len;
	uint32_t argv_count;
	uint32_t reserved;
};

enum dise_exit_how {
	DISE_EXIT_MAIN = 1, /* returned from main (not told apart from exit() by the shim) */
	DISE_EXIT_EXIT,     /* exit(), or return from main */
	DISE_EXIT__EXIT,    /* _exit() */
	DISE_EXIT__EXIT2,   /* _Exit() */
	DISE_EXIT_TRACED,   /* seen by ptrace or by `dise run`'s wait4: status is then the raw wait status,
			       and the record ends the latest run of that pid that began since run_start_ns */
	DISE_EXIT_DETACHED, /* `dise attach` stopped watching the run, alive: its end is unknown (status 0) */
};

struct dise_rec_exit {
	struct dise_rec_hdr h;
	int32_t status; /* the exit code as passed; the kernel keeps status & 0xff */
	uint32_t how;   /* enum dise_exit_how */
	uint64_t elapsed_ns;
	uint64_t user_ns;
	uint64_t sys_ns;
	uint64_t maxrss_kb;
};

/*
 * REAP: a watched process reaped a child (wait, waitpid, wait3, wait4,
 * waitid: the calls through which a program learns how its child ended).
 * The header names the reaper's run; child_pid and status say which child
 * ended how, status as wait(2) gives it (waitid's siginfo is turned into
 * that form). mono_ns of the header is the moment of the reap: the child's
 * pid was its own from its fork until then (a zombie keeps its pid), so the
 * child's run is the latest run of child_pid with parent h.pid that began
 * before mono_ns. It ends that run when nothing else did (the Go runtime and
 * quick_exit leave the shim no EXIT; SIGKILL leaves no record at all).
 */
struct dise_rec_reap {
	struct dise_rec_hdr h;
	uint32_t child_pid;
	int32_t status; /* a wait status: WIFEXITED/WEXITSTATUS, WIFSIGNALED/WTERMSIG */
	uint64_t user_ns; /* the child's CPU times and peak RSS when the call gave them (wait3, wait4), else 0 */
	uint64_t sys_ns;
	uint64_t maxrss_kb;
};

/* Registers in DWARF numbering for x86-64 (rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip). */
#define DISE_CRASH_NREGS 17u
#define DISE_REG_SP 7u
#define DISE_REG_IP 16u
#define DISE_ARCH_X86_64 62u /* EM_X86_64 */

#define DISE_CRASH_STACK_MAX (24u * 1024u)
#define DISE_BUILD_ID_MAX 20u

enum {
	DISE_CRASH_MODULES_TRUNC = 1u << 0, /* the module map did not fit */
	DISE_CRASH_STACK_TRUNC = 1u << 1,   /* the stack was longer than kept */
	DISE_CRASH_OTHER_THREAD = 1u << 2,  /* not the main thread */
	DISE_CRASH_RERAISED = 1u << 3,      /* a signal the process sent itself (SI_USER/SI_TKILL/SI_QUEUE,
					       si_pid its own) after it reaped a child that died of the same
					       signal: the child's crash passed on (GNU timeout), not its own */
	DISE_CRASH_CORE = 1u << 4,	    /* written by dise-coredump: kept only when its START was */
};

/*
 * CRASH. Followed by stack_len bytes of the faulting thread's stack starting
 * at stack_addr (the stack pointer at the fault), then nmodules entries of
 * struct dise_module packed in modules_len bytes.
 */
struct dise_rec_crash {
	struct dise_rec_hdr h;
	int32_t signo;
	int32_t si_code;
	uint64_t fault_addr;
	uint32_t arch;
	uint32_t nregs;
	uint64_t regs[DISE_CRASH_NREGS];
	uint64_t stack_addr;
	uint32_t stack_len;
	uint32_t flags; /* DISE_CRASH_* */
	uint32_t nmodules;
	uint32_t modules_len;
	uint64_t elapsed_ns;
};

/*
 * One loaded file: [base, end) spans all its mappings; base is where file
 * offset 0 is mapped. Followed by the path, NUL-terminated; `size` covers it
 * and is a multiple of 8.
 */
struct dise_module {
	uint16_t size;
	uint8_t build_id_len;
	uint8_t flags;
	uint32_t reserved;
	uint64_t base;
	uint64_t end;
	uint64_t ino;
	uint8_t build_id[DISE_BUILD_ID_MAX];
	uint32_t path_len; /* including the NUL */
};

#define DISE_RECORD_MAX (64u * 1024u)

#endif
