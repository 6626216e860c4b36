/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The structures shared by recorder.bpf.c and wardend (daemon/kernel_recorder.cc): every
 * struct both sides read or write is defined here and only here.  The BPF side sees the kernel's
 * fixed-width types (__u64, ...) through vmlinux.h, which it includes first; user space gets the
 * same types from <linux/types.h>, included below only outside the BPF target (vmlinux.h and the
 * UAPI header would define them twice).
 *
 * Events leave the kernel through one ring buffer.  Every event starts with struct rec_hdr; data
 * events (screen output, keystrokes) are followed by `len` bytes, a redacted keystroke event by
 * struct rec_redacted (its `len` says how many bytes were withheld).  `lost` and `lost_events` are
 * the session's cumulative counts of data bytes and of other events (execs, resizes, redaction
 * markers) that could not be put into the ring buffer before this event was emitted: user space
 * turns every increase into an explicit gap in the recording, at the place it happened, and reads
 * the same counters from the `sessions` map when no event follows.
 *
 * A session may have several terminals: every pty master its broker (the process that opened the
 * session, sshd's monitor, or one of its direct children, sshd's channel process) reads or writes
 * is one, numbered in the order they appear (an OpenSSH connection multiplexes up to MaxSessions
 * channels, each with its own pty).  A pty opened deeper inside the session (tmux, script) is
 * recorded through the terminal it runs on, and only on its own while the session has no terminal.
 */
#ifndef WARDEN_BPF_RECORDER_H
#define WARDEN_BPF_RECORDER_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define REC_CHUNK	16384	/* data bytes per event; sshd reads a pty at most 16 KiB at a time */
#define REC_MAX_CHUNKS	16	/* per system call; bytes beyond 256 KiB are counted as lost */
#define REC_ARGV_MAX	1024
#define REC_PATH_MAX	256
#define REC_CWD_DEPTH	12
#define REC_NAME_MAX	64
#define REC_TERMINALS	16	/* per session; bytes of a broker's further ptys are counted as lost */
#define REC_COMM_LEN	16

#define REC_PTMX_RDEV	((5U << 20) | 2U)	/* MKDEV(5, 2) in the kernel's dev_t encoding */

enum rec_type {
	REC_OUTPUT = 1,		/* read from the pty master: what the terminal showed */
	REC_INPUT = 2,		/* written to the pty master: what was typed */
	REC_INPUT_REDACTED = 3,	/* typed while the terminal was canonical without echo */
	REC_RESIZE = 4,		/* TIOCSWINSZ on the master */
	REC_EXEC = 5,		/* an exec in the session's process tree */
};

/* rec_hdr.flags */
#define REC_F_EOL	1	/* a redacted piece that ends with a line terminator (CR or LF) */

enum rec_input_mode {
	REC_INPUT_REDACT_SECRETS = 0,	/* default: password prompts become a marker */
	REC_INPUT_ALL = 1,
	REC_INPUT_OFF = 2,
};

/* Value of the `sessions` map, keyed by the 64-bit session number wardend assigns. */
struct rec_session {
	__u64 lost_bytes;	/* bytes dropped because the ring buffer was full or a write was too big */
	__u64 lost_events;	/* execs, resizes and redaction markers dropped (ring buffer full) */
	__u32 input_mode;	/* enum rec_input_mode */
	__u32 root;		/* tgid of the process that opened the session */
	__s64 pts[REC_TERMINALS];	/* the session's terminals (pty indexes) in order, -1 unused */
};

/*
 * Value of the `task_recs` task storage: per task of a recorded session (set by wardend through a
 * pidfd, inherited at fork): its session number, and a read/write on the session's pty master
 * between sys_enter and sys_exit (type 0: none). Task-local storage is the filter: for every other
 * task the lookup is one pointer test, where a hash map would hash and probe on each read and
 * write of the host.
 */
struct task_rec {
	__u64 session;
	__u64 buf;
	__u64 tty;		/* the master's tty_struct, for a redacted write's reader */
	__u32 type;		/* enum rec_type: REC_OUTPUT, REC_INPUT or REC_INPUT_REDACTED; 0 none */
	__u32 terminal;		/* index in rec_session.pts; REC_TERMINALS: one too many, counted lost */
};

struct rec_hdr {
	__u64 session;
	__u64 ts_ns;		/* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 lost;
	__u64 lost_events;
	__u32 type;		/* enum rec_type */
	__u32 len;		/* payload bytes (data events) or withheld bytes (redacted) */
	__u32 pid;
	__u16 terminal;		/* index into rec_session.pts; for an exec, its controlling tty's */
	__u16 flags;		/* REC_F_* */
};

/* A redacted piece of input: nothing of it leaves the kernel but its length and who reads it. */
struct rec_redacted {
	struct rec_hdr hdr;
	__u32 reader_pid;	/* a process of the terminal's foreground process group, 0 if none */
	__u32 pad;
	char reader_comm[REC_COMM_LEN];
};

struct rec_data {
	struct rec_hdr hdr;
	__u8 data[REC_CHUNK];
};

struct rec_resize {
	struct rec_hdr hdr;
	__u16 rows;
	__u16 cols;
	__u32 pad;
};

struct rec_exec {
	struct rec_hdr hdr;
	__u32 uid;
	__u32 argv_len;		/* bytes of argv copied, NUL-separated */
	__u32 cwd_depth;	/* components in cwd[], innermost first */
	__u32 argv_total;	/* bytes of the whole argv: above argv_len it was truncated */
	char filename[REC_PATH_MAX];
	char argv[REC_ARGV_MAX];
	char cwd[REC_CWD_DEPTH][REC_NAME_MAX];
};

#endif /* WARDEN_BPF_RECORDER_H */
