// SPDX-License-Identifier: GPL-2.0
/*
 * Session recording: the terminal I/O and the execs of registered sessions.
 *
 * Only tracepoints load on Warden's hosts, and any syscall tracepoint moves every task onto the
 * slow syscall path, so the whole capture hangs off one sys_enter and one sys_exit program that
 * dispatch on the syscall number, plus the sched fork and exec tracepoints (the session's new
 * tasks, the programs it runs).  wardend attaches them only while a recorded session exists.
 *
 * Capture is at the pty master held by the session's broker (sshd): its reads are everything the
 * screen showed, the kernel's echo included; its writes are the raw keystrokes.  A session is bound
 * to the first pty master its processes touch (sshd's), so a pty nested inside the session (tmux,
 * script) is not recorded twice.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "recorder.h"

#define NR_READ		0
#define NR_WRITE	1
#define NR_IOCTL	16
#define TIOCSWINSZ_CMD	0x5414
#define ICANON_FLAG	0000002
#define ECHO_FLAG	0000010

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/*
 * Per task of a recorded session (set by wardend through a pidfd, inherited at fork): its
 * session number, and a read/write on the session's pty master between sys_enter and sys_exit
 * (type 0: none). Task-local storage is the filter: for every other task the lookup is one
 * pointer test, where a hash map would hash and probe on each read and write of the host.
 */
struct task_rec {
	__u64 session;
	__u64 buf;
	__u32 type;
	__u32 pad;
};

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

/* Binds the session to its pty on first use; false for any other pty. */
static __always_inline bool session_pty(struct rec_session *s, struct tty_struct *tty)
{
	int index = BPF_CORE_READ(tty, index);

	if (s->pts < 0)
		s->pts = index;	/* one broker binds it; a race would store the same index */
	return s->pts == index;
}

static __always_inline void fill_hdr(struct rec_hdr *h, __u64 session, struct rec_session *s,
				     __u32 type, __u32 len)
{
	h->session = session;
	h->ts_ns = bpf_ktime_get_ns();
	h->lost = s->lost_bytes;
	h->type = type;
	h->len = len;
	h->pid = bpf_get_current_pid_tgid() >> 32;
	h->pad = 0;
}

static __always_inline void emit_resize(__u64 session, struct rec_session *s, const void *arg)
{
	struct winsize ws;
	struct rec_resize ev;

	if (bpf_probe_read_user(&ws, sizeof(ws), arg))
		return;
	fill_hdr(&ev.hdr, session, s, REC_RESIZE, 0);
	ev.rows = ws.ws_row;
	ev.cols = ws.ws_col;
	ev.pad = 0;
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), wakeup_flags()))
		count_loss(s, 0);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(rec_sys_enter, struct pt_regs *regs, long id)
{
	struct task_rec *t;
	struct rec_session *s;
	struct tty_struct *tty;
	__u32 type;
	__u64 key;

	if (id != NR_READ && id != NR_WRITE && id != NR_IOCTL)
		return 0;
	t = current_rec();
	if (!t)
		return 0;
	key = t->session;
	s = bpf_map_lookup_elem(&sessions, &key);
	if (!s)
		return 0;
	tty = master_tty((int)regs->di);
	if (!tty || !session_pty(s, tty))
		return 0;

	if (id == NR_IOCTL) {
		if ((unsigned int)regs->si == TIOCSWINSZ_CMD)
			emit_resize(key, s, (const void *)regs->dx);
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
	t->buf = regs->si;
	t->type = type;
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
	long id = regs->orig_ax;
	__u64 done = 0;
	int i;

	if (id != NR_READ && id != NR_WRITE)
		return 0;
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
	if (io.type == REC_INPUT_REDACTED) {
		struct rec_hdr h;

		fill_hdr(&h, io.session, s, REC_INPUT_REDACTED, ret);
		if (bpf_ringbuf_output(&events, &h, sizeof(h), wakeup_flags()))
			count_loss(s, 0);
		return 0;
	}
	buf = bpf_map_lookup_elem(&scratch_buf, &zero);
	if (!buf)
		return 0;
	for (i = 0; i < REC_MAX_CHUNKS; i++) {
		__u64 n = ret - done;

		if (n > REC_CHUNK)
			n = REC_CHUNK;
		fill_hdr(&buf->data.hdr, io.session, s, io.type, n);
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
	__u64 arg_start, arg_len;
	__u32 zero = 0;
	int i;

	if (!t)
		return 0;
	key = t->session;
	s = bpf_map_lookup_elem(&sessions, &key);
	buf = bpf_map_lookup_elem(&scratch_buf, &zero);
	if (!s || !buf)
		return 0;
	ev = &buf->exec;
	fill_hdr(&ev->hdr, key, s, REC_EXEC, 0);
	ev->uid = (__u32)bpf_get_current_uid_gid();
	bpf_probe_read_kernel_str(ev->filename, sizeof(ev->filename), BPF_CORE_READ(bprm, filename));

	mm = task->mm;
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_len = BPF_CORE_READ(mm, arg_end) - arg_start;
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
		count_loss(s, 0);
	return 0;
}
