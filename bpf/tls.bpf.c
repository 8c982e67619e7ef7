// SPDX-License-Identifier: GPL-2.0
/* TLS operations: uprobes on OpenSSL 1.1 / 3 SSL_read, SSL_write (and their
 * _ex forms) and SSL_do_handshake (SSL_connect, SSL_accept) in every libssl
 * the agent finds. Counts duration per operation and the plaintext byte count
 * the call returned; the buffers themselves are never read. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "events.bpf.h"

/* Entry of SSL_read(ssl, buf, int num), SSL_read_ex(ssl, buf, size_t num,
 * size_t *readbytes), SSL_write, SSL_write_ex (same shapes), SSL_do_handshake,
 * SSL_connect and SSL_accept (ssl): the attach cookie says which (TLS_COOKIE_*). */
SEC("uprobe")
int BPF_KPROBE(tls_enter, void *ssl, void *buf, __u64 num, __u64 count_ptr)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	begin_call(ctx, SPAN_TLS, cookie & 0xff, cookie & TLS_COOKIE_EX ? count_ptr : 0);
	return 0;
}

/* The return of any of them: SSL_read/SSL_write return the byte count (> 0),
 * the _ex forms 1 and the count through their out-parameter. */
SEC("uretprobe")
int BPF_KRETPROBE(tls_exit, int ret)
{
	struct pending_call call;
	if (!end_call(&call))
		return 0;
	__u32 op = call.span.detail;
	__u64 bytes = 0;
	if (op != TLS_HANDSHAKE) {
		if (call.out_ptr) {
			if (ret == 1)
				bpf_probe_read_user(&bytes, sizeof(bytes), (void *)call.out_ptr);
		} else if (ret > 0) {
			bytes = ret;
		}
	}
	record_call(ctx, op < TLS_ROWS ? op : TLS_READ, &call, bytes, bpf_ktime_get_ns());
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
