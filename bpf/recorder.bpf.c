// SPDX-License-Identifier: GPL-2.0
/*
 * Session recording: the terminal I/O and the execs of registered sessions.
 *
 * Only tracepoints load on Warden's hosts, and any syscall tracepoint moves every task onto the
 * slow syscall path, so the whole capture hangs off one sys_enter and one sys_exit program that
 * dispatch on the syscall number, plus the sched fork and exec tracepoints (the session's new
 * tasks, the programs it runs).  wardend attaches them only while a recorded session exists.
 *
 * Capture is at the pty masters held by the session's broker (sshd): its reads are everything the
 * screen showed, the kernel's echo included; its writes are the raw keystrokes.  Every pty master
 * the broker touches is one of the session's terminals (an OpenSSH connection can multiplex several
 * shells, each on its own pty); a pty nested inside the session (tmux, script) is not recorded
 * twice (see recorder.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "recorder.h"

/*
 * Syscall numbers differ per architecture.  The build passes -D__TARGET_ARCH_<arch> (x86, arm64 or
 * riscv; bpf/CMakeLists.txt derives it from CMAKE_SYSTEM_PROCESSOR), which also selects the
 * pt_regs layout behind PT_REGS_PARM*_CORE_SYSCALL.  arm64 and riscv use the generic table
 * (asm-generic/unistd.h).
 */
#if defined(__TARGET_ARCH_x86)
#define NR_READ		0
#define NR_WRITE	1
#define NR_IOCTL	16
#elif defined(__TARGET_ARCH_arm64) || defined(__TARGET_ARCH_riscv)
#define NR_READ		63
#define NR_WRITE	64
#define NR_IOCTL	29
#else
#error "syscall numbers of this __TARGET_ARCH_ are not known"
#endif
#define TIOCSWINSZ_CMD	0x5414
#define ICANON_FLAG	0000002
#define ECHO_FLAG	0000010

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_rec);
} task_recs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct rec_session);
} sessions SEC(".maps");

struct scratch {
	union {
		struct rec_data data;
		struct rec_exec exec;
	};
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_buf SEC(".maps");

/*
 * The session's storage of the current task, or NULL. Most tasks hold no BPF task storage at
 * all; for them one load of task->bpf_storage answers, without the helper's locking.
 */
static __always_inline struct task_rec *current_rec(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (!task->bpf_storage)
		return NULL;
	return bpf_task_storage_get(&task_recs, task, 0, 0);
}

/* Wake the reader only once there is something worth a context switch; it also polls. */
static __always_inline __u64 wakeup_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > (256 << 10) ? BPF_RB_FORCE_WAKEUP :
									       BPF_RB_NO_WAKEUP;
}

static __always_inline void count_loss(struct rec_session *s, __u64 bytes)
{
	__sync_fetch_and_add(&s->lost_bytes, bytes);
}

static __always_inline void count_event_loss(struct rec_session *s)
{
	__sync_fetch_and_add(&s->lost_events, 1);
}

/* The pty master `fd` of the current task refers to, or NULL. */
static __always_inline struct tty_struct *master_tty(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f;
	struct tty_file_private *priv;

	if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	if (BPF_CORE_READ(f, f_inode, i_rdev) != REC_PTMX_RDEV)
		return NULL;
	priv = BPF_CORE_READ(f, private_data);
	if (!priv)
		return NULL;
	return BPF_CORE_READ(priv, tty);
}

/*
 * Which of the session's terminals `tty` is: 0..REC_TERMINALS-1, -1 for none of them, and
 * REC_TERMINALS for one the broker uses beyond the last slot (its bytes are counted as lost).  With
 * `bind`, a pty the broker uses becomes the next terminal, and so does a nested one while the
 * session has none yet (a command without a pty that runs `script`).
 */
static __always_inline int session_terminal(struct rec_session *s, struct tty_struct *tty,
					    bool bind)
{
	struct task_struct *task = bpf_get_current_task_btf();
	int index = BPF_CORE_READ(tty, index);
	bool broker = task->tgid == s->root || BPF_CORE_READ(task, real_parent, tgid) == s->root;
	int i;

	for (i = 0; i < REC_TERMINALS; i++) {
		__s64 pts = s->pts[i];

		if (pts == index)
			return i;
		if (pts >= 0)
			continue;
		if (!bind || (!broker && i > 0))
			return -1;
		pts = __sync_val_compare_and_swap(&s->pts[i], -1, index);
		if (pts == -1 || pts == index)
			return i;
	}
	return bind && broker ? REC_TERMINALS : -1;
}

static __always_inline void fill_hdr(struct rec_hdr *h, __u64 session, struct rec_session *s,
				     __u32 type, __u32 len, __u32 terminal)
{
	h->session = session;
	h->ts_ns = bpf_ktime_get_ns();
	h->lost = s->lost_bytes;
	h->lost_events = s->lost_events;
	h->type = type;
	h->len = len;
	h->pid = bpf_get_current_pid_tgid() >> 32;
	h->terminal = terminal;
	h->flags = 0;
}

static __always_inline void emit_resize(__u64 session, struct rec_session *s, int terminal,
					const void *arg)
{
	struct winsize ws;
	struct rec_resize ev;

	if (terminal >= REC_TERMINALS || bpf_probe_read_user(&ws, sizeof(ws), arg)) {
		count_event_loss(s);
		return;
	}
	fill_hdr(&ev.hdr, session, s, REC_RESIZE, 0, terminal);
	ev.rows = ws.ws_row;
	ev.cols = ws.ws_col;
	ev.pad = 0;
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), wakeup_flags()))
		count_event_loss(s);
}

/* Who reads what is typed: a process of the slave's foreground process group. */
static __always_inline void reader_of(struct tty_struct *tty, struct rec_redacted *ev)
{
	struct pid *pg = BPF_CORE_READ(tty, link, ctrl.pgrp);
	struct hlist_node *first;
	struct task_struct *task;

	ev->reader_pid = 0;
	ev->pad = 0;
	ev->reader_comm[0] = 0;
	if (!pg)
		return;
	first = BPF_CORE_READ(pg, tasks[PIDTYPE_PGID].first);
	if (!first)
		return;
	task = container_of(first, struct task_struct, pid_links[PIDTYPE_PGID]);
	ev->reader_pid = BPF_CORE_READ(task, tgid);
	BPF_CORE_READ_STR_INTO(&ev->reader_comm, task, comm);
}

struct redact_ctx {
	struct rec_redacted ev;
	__u64 session;
	__u64 buf;		/* the write's user buffer */
	__u32 start;		/* of the current piece, in the write */
	__u32 terminal;
};

static __always_inline void emit_redacted(struct redact_ctx *c, struct rec_session *s, __u32 len,
					  __u16 flags)
{
	fill_hdr(&c->ev.hdr, c->session, s, REC_INPUT_REDACTED, len, c->terminal);
	c->ev.hdr.flags = flags;
	if (bpf_ringbuf_output(&events, &c->ev, sizeof(c->ev), wakeup_flags()))
		count_event_loss(s);
}

/*
 * bpf_loop callback over a redacted write, byte by byte from the writer's memory (never copied
 * into a map): a piece ends at each line terminator.
 */
static long redact_byte(__u32 i, struct redact_ctx *c)
{
	struct rec_session *s;
	__u8 ch;

	if (bpf_probe_read_user(&ch, 1, (const void *)(c->buf + i)) || (ch != '\n' && ch != '\r'))
		return 0;
	s = bpf_map_lookup_elem(&sessions, &c->session);
	if (!s)
		return 1;
	emit_redacted(c, s, i + 1 - c->start, REC_F_EOL);
	c->start = i + 1;
	return 0;
}

/*
 * A write typed at a password prompt: only the length of each line and who reads it leave the
 * kernel.  Line ends are looked for in the first 16 KiB of a write (keystrokes come one at a time;
 * a longer paste counts its rest as part of the last line).
 */
static __always_inline void emit_redacted_write(struct task_rec *io, struct rec_session *s,
						 long ret)
{
	struct redact_ctx c;

	c.session = io->session;
	c.buf = io->buf;
	c.start = 0;
	c.terminal = io->terminal;
	reader_of((struct tty_struct *)io->tty, &c.ev);
	bpf_loop(ret > REC_CHUNK ? REC_CHUNK : ret, redact_byte, &c, 0);
	if (ret > c.start)
		emit_redacted(&c, s, ret - c.start, 0);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(rec_sys_enter, struct pt_regs *regs, long id)
{
	struct task_rec *t;
	struct rec_session *s;
	struct tty_struct *tty;
	__u32 type;
	__u64 key;
	int terminal;

	if (id != NR_READ && id != NR_WRITE && id != NR_IOCTL)
		return 0;
	t = current_rec();
	if (!t)
		return 0;
	key = t->session;
	s = bpf_map_lookup_elem(&sessions, &key);
	if (!s)
		return 0;
	/* sshd's monitor sets up each pty with ioctls too: only the broker's I/O binds one. */
	if (id == NR_IOCTL && (unsigned int)PT_REGS_PARM2_CORE_SYSCALL(regs) != TIOCSWINSZ_CMD)
		return 0;
	tty = master_tty((int)PT_REGS_PARM1_CORE_SYSCALL(regs));
	if (!tty)
		return 0;
	terminal = session_terminal(s, tty, true);
	if (terminal < 0)
		return 0;

	if (id == NR_IOCTL) {
		emit_resize(key, s, terminal, (const void *)PT_REGS_PARM3_CORE_SYSCALL(regs));
		return 0;
	}
	if (id == NR_READ) {
		type = REC_OUTPUT;
	} else {
		/* Decided now, from the slave's line discipline as the keystroke arrives. */
		unsigned int lflag = BPF_CORE_READ(tty, link, termios.c_lflag);
		bool secret = (lflag & ICANON_FLAG) && !(lflag & ECHO_FLAG);

		if (s->input_mode == REC_INPUT_OFF)
			return 0;
		type = secret && s->input_mode == REC_INPUT_REDACT_SECRETS ? REC_INPUT_REDACTED :
									     REC_INPUT;
	}
	t->buf = PT_REGS_PARM2_CORE_SYSCALL(regs);
	t->tty = (__u64)tty;
	t->type = type;
	t->terminal = terminal;
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(rec_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_rec *t;
	struct task_rec io;
	struct rec_session *s;
	struct scratch *buf;
	__u32 zero = 0;
	__u64 done = 0;
	int i;

	/*
	 * No syscall number test here: the number's register is per architecture (orig_ax, syscallno),
	 * and a task's sys_exit always follows its own sys_enter, which set t->type only for a read or
	 * write of one of the session's pty masters.
	 */
	t = current_rec();
	if (!t || !t->type)
		return 0;
	io = *t;
	t->type = 0;
	if (ret <= 0)
		return 0;
	s = bpf_map_lookup_elem(&sessions, &io.session);
	if (!s)
		return 0;
	if (io.terminal >= REC_TERMINALS) {
		count_loss(s, ret);
		return 0;
	}
	if (io.type == REC_INPUT_REDACTED) {
		emit_redacted_write(&io, s, ret);
		return 0;
	}
	buf = bpf_map_lookup_elem(&scratch_buf, &zero);
	if (!buf)
		return 0;
	for (i = 0; i < REC_MAX_CHUNKS; i++) {
		__u64 n = ret - done;

		if (n > REC_CHUNK)
			n = REC_CHUNK;
		fill_hdr(&buf->data.hdr, io.session, s, io.type, n, io.terminal);
		if (bpf_probe_read_user(buf->data.data, n, (const void *)(io.buf + done)) ||
		    bpf_ringbuf_output(&events, &buf->data, sizeof(struct rec_hdr) + n,
				       wakeup_flags()))
			count_loss(s, n);
		done += n;
		if (done >= (__u64)ret)
			return 0;
	}
	count_loss(s, ret - done);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(rec_fork, struct task_struct *parent, struct task_struct *child)
{
	struct task_rec *p, *c;

	/* New processes and new threads alike; the storage goes with the task when it is freed. */
	p = bpf_task_storage_get(&task_recs, parent, 0, 0);
	if (!p)
		return 0;
	c = bpf_task_storage_get(&task_recs, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (c) {
		c->session = p->session;
		c->type = 0;
		c->terminal = 0;
	}
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(rec_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_rec *t = bpf_task_storage_get(&task_recs, task, 0, 0);
	__u64 key;
	struct rec_session *s;
	struct scratch *buf;
	struct rec_exec *ev;
	struct mm_struct *mm;
	struct dentry *d;
	struct vfsmount *vfs;
	struct mount *mnt;
	struct tty_struct *ctty;
	__u64 arg_start, arg_len;
	__u32 zero = 0;
	int i, terminal = -1;

	if (!t)
		return 0;
	key = t->session;
	s = bpf_map_lookup_elem(&sessions, &key);
	buf = bpf_map_lookup_elem(&scratch_buf, &zero);
	if (!s || !buf)
		return 0;
	ctty = BPF_CORE_READ(task, signal, tty);
	if (ctty)
		terminal = session_terminal(s, ctty, false);
	ev = &buf->exec;
	fill_hdr(&ev->hdr, key, s, REC_EXEC, 0, terminal < 0 ? 0 : terminal);
	ev->uid = (__u32)bpf_get_current_uid_gid();
	bpf_probe_read_kernel_str(ev->filename, sizeof(ev->filename), BPF_CORE_READ(bprm, filename));

	mm = task->mm;
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_len = BPF_CORE_READ(mm, arg_end) - arg_start;
	ev->argv_total = arg_len;
	if (arg_len > REC_ARGV_MAX)
		arg_len = REC_ARGV_MAX;
	ev->argv_len = 0;
	if (!bpf_probe_read_user(ev->argv, arg_len, (const void *)arg_start))
		ev->argv_len = arg_len;

	/* The working directory, innermost component first, crossing mount points. */
	d = BPF_CORE_READ(task, fs, pwd.dentry);
	vfs = BPF_CORE_READ(task, fs, pwd.mnt);
	mnt = container_of(vfs, struct mount, mnt);
	ev->cwd_depth = 0;
	for (i = 0; i < REC_CWD_DEPTH + 4; i++) {
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		struct dentry *mnt_root = BPF_CORE_READ(vfs, mnt_root);
		__u32 depth = ev->cwd_depth;

		if (d == mnt_root) {
			struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

			if (up == mnt)
				break;	/* the root of the namespace */
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = up;
			vfs = &up->mnt;
			continue;
		}
		if (d == parent || depth >= REC_CWD_DEPTH)
			break;
		bpf_probe_read_kernel_str(ev->cwd[depth], REC_NAME_MAX, BPF_CORE_READ(d, d_name.name));
		ev->cwd_depth = depth + 1;
		d = parent;
	}
	if (bpf_ringbuf_output(&events, ev, sizeof(*ev), wakeup_flags()))
		count_event_loss(s);
	return 0;
}
