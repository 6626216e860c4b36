/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The floor the recorder is measured against (bench/recording_bench): an empty tp_btf program
 * on sys_enter and one on sys_exit. Attaching any syscall tracepoint moves every task to the
 * slow syscall path; this pair costs exactly that and nothing more.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sys_enter")
int floor_enter(void *ctx)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int floor_exit(void *ctx)
{
	return 0;
}
