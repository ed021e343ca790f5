/*
 * Cloister's C API over lwIP's raw API, compiled into lwip.wasm (wasm32-wasi reactor, NO_SYS=1).
 *
 * One IPv4 interface per module instance, driven entirely by the embedder: it feeds inbound IP
 * packets (cl_input), ticks the timers (cl_tick) and receives every outbound packet through the
 * imported output() as it is produced. Connection events (accept, connected, readable, end of
 * stream, sent, error, datagram) go out through the imported event() and are only recorded there;
 * the embedder acts on them after the call returns, so lwIP is never re-entered from a callback.
 *
 * Data crosses through one buffer in linear memory (cl_io_buffer, CL_IO_SIZE bytes): the embedder
 * writes a packet or payload there before cl_input/cl_tcp_send/cl_udp_sendto, and reads it there
 * after cl_tcp_recv/cl_udp_recv. Addresses are IPv4 as 32-bit numbers, a.b.c.d = a<<24|b<<16|c<<8|d.
 * Functions return >= 0 on success and -errno (WASI preview1 values, wasi-libc's <errno.h>) on
 * failure. Connection and socket ids are small positive numbers; an id stays valid until the embedder
 * closes it, also after the peer reset the connection (it then reports the error).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "lwip/init.h"
#include "lwip/ip4.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"

#define EXPORT(name) __attribute__((export_name(#name))) name
#define IMPORT(name) __attribute__((import_module("cloister_net"), import_name(#name)))

IMPORT(now_ms) uint32_t js_now_ms(void);
IMPORT(random32) uint32_t js_random32(void);
IMPORT(output) void js_output(const void *packet, uint32_t len);
IMPORT(event) void js_event(uint32_t kind, uint32_t id, int32_t arg);
IMPORT(assert_failed) void js_assert_failed(const char *message, const char *file, int line);

enum { EV_ACCEPT = 1, EV_CONNECTED, EV_READABLE, EV_EOF, EV_SENT, EV_ERROR, EV_DATAGRAM };

#define CL_IO_SIZE 65536
#define MAX_TCP 256
#define MAX_UDP 64
#define UDP_QUEUE 64

static uint8_t io_buf[CL_IO_SIZE];
static uint8_t out_buf[CL_IO_SIZE];
static struct netif nif;
static int initialised, netif_ready;

/* Counters of what the glue itself refused; lwIP's own are in lwip_stats. */
static uint32_t input_rejected, udp_queue_dropped, output_oversized;

u32_t sys_now(void) { return js_now_ms(); }
uint32_t cl_random32(void) { return js_random32(); }
uint32_t cl_tcp_isn(void) { return js_random32(); }

void cl_assert_failed(const char *message, const char *file, int line) {
	js_assert_failed(message, file, line);
	__builtin_trap();
}

static ip4_addr_t to_ip4(uint32_t host_order) {
	ip4_addr_t a;
	a.addr = lwip_htonl(host_order);
	return a;
}

static int err_to_errno(err_t err) {
	switch (err) {
	case ERR_OK: return 0;
	case ERR_MEM: case ERR_BUF: return -ENOMEM;
	case ERR_TIMEOUT: return -ETIMEDOUT;
	case ERR_RTE: return -EHOSTUNREACH;
	case ERR_INPROGRESS: return -EINPROGRESS;
	case ERR_VAL: case ERR_ARG: return -EINVAL;
	case ERR_WOULDBLOCK: return -EAGAIN;
	case ERR_USE: return -EADDRINUSE;
	case ERR_ALREADY: return -EALREADY;
	case ERR_ISCONN: return -EISCONN;
	case ERR_CONN: case ERR_CLSD: return -ENOTCONN;
	case ERR_ABRT: return -ECONNABORTED;
	case ERR_RST: return -ECONNRESET;
	default: return -EIO;
	}
}

/* ---------------------------------------------------------------- interface */

/*
 * ACK thinning. While the embedder feeds a batch of inbound packets (cl_batch), a pure ACK lwIP
 * answers with (no data, no options, no flag but ACK) is held back instead of sent; a later pure
 * ACK of the same connection that acknowledges more replaces it, as it says everything the held one
 * said. The held ACK goes out before any other packet, when an ACK of its connection does not
 * advance past it (a duplicate: that one goes out at once after it), when ACK_STRETCH ACKs have
 * been folded into it, and when the batch ends. lwIP acknowledges every second full segment, so a
 * bulk receiver sends one ACK per 2 * ACK_STRETCH segments instead of one per two: each ACK costs a
 * WireGuard seal and open whatever its size. ACKs that report a loss carry SACK blocks (options)
 * and are never held.
 */
#define ACK_STRETCH 8
#define PURE_ACK_LEN 40

static int batching;
static uint8_t held_ack[PURE_ACK_LEN];
static uint32_t held_folded; /* lwIP ACKs the held one stands for; 0: none held */

static uint32_t get_be32(const uint8_t *p) {
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* IPv4 without options carrying TCP without options or data, only the ACK flag, not a fragment. */
static int is_pure_ack(const uint8_t *p, uint32_t n) {
	return n == PURE_ACK_LEN && p[0] == 0x45 && p[2] == 0 && p[3] == PURE_ACK_LEN &&
	       (p[6] & 0x3f) == 0 && p[7] == 0 && p[9] == IP_PROTO_TCP && p[32] == 0x50 && p[33] == 0x10;
}

static void flush_held_ack(void) {
	if (!held_folded)
		return;
	held_folded = 0;
	js_output(held_ack, PURE_ACK_LEN);
}

/* Holds a pure ACK; true when it was held (or folded into the held one) rather than to be sent now. */
static int hold_ack(const uint8_t *p) {
	if (held_folded) {
		/* Same addresses and ports (bytes 12..23), acknowledging strictly more. */
		int same = memcmp(held_ack + 12, p + 12, 12) == 0;
		int32_t advance = (int32_t)(get_be32(p + 28) - get_be32(held_ack + 28));
		if (same && advance > 0 && held_folded < ACK_STRETCH) {
			memcpy(held_ack, p, PURE_ACK_LEN);
			held_folded++;
			return 1;
		}
		flush_held_ack();
		if (same && advance <= 0)
			return 0; /* a duplicate ACK goes out at once */
	}
	memcpy(held_ack, p, PURE_ACK_LEN);
	held_folded = 1;
	return 1;
}

static err_t netif_output(struct netif *netif, struct pbuf *p, const ip4_addr_t *dest) {
	(void)dest;
	if (p->tot_len > netif->mtu) {
		output_oversized++;
		return ERR_BUF;
	}
	uint16_t n = pbuf_copy_partial(p, out_buf, p->tot_len, 0);
	if (batching && is_pure_ack(out_buf, n) && hold_ack(out_buf))
		return ERR_OK;
	flush_held_ack();
	js_output(out_buf, n);
	return ERR_OK;
}

/* Starts (1) or ends (0) a batch of cl_input calls; ending it sends the ACK held back, if any. */
void EXPORT(cl_batch)(uint32_t on) {
	batching = on != 0;
	if (!batching)
		flush_held_ack();
}

static err_t netif_setup(struct netif *netif) {
	netif->name[0] = 'w';
	netif->name[1] = 'g';
	netif->output = netif_output;
	netif->flags = NETIF_FLAG_LINK_UP;
	return ERR_OK;
}

int EXPORT(cl_init)(void) {
	if (!initialised) {
		lwip_init();
		initialised = 1;
	}
	return 0;
}

void *EXPORT(cl_io_buffer)(void) { return io_buf; }
uint32_t EXPORT(cl_io_size)(void) { return CL_IO_SIZE; }

/* The MTU is the tunnel's: TCP fits its MSS to it (MTU - 40). */
int EXPORT(cl_netif_up)(uint32_t ip, uint32_t netmask, uint32_t gateway, uint32_t mtu) {
	if (!initialised || netif_ready)
		return -EALREADY;
	if (mtu < 576 || mtu > 65535)
		return -EINVAL;
	ip4_addr_t a = to_ip4(ip), m = to_ip4(netmask), g = to_ip4(gateway);
	if (!ip4_addr_netmask_valid(m.addr))
		return -EINVAL;
	if (!netif_add(&nif, &a, &m, &g, NULL, netif_setup, ip4_input))
		return -EINVAL;
	nif.mtu = (u16_t)mtu;
	netif_set_default(&nif);
	netif_set_up(&nif);
	netif_ready = 1;
	return 0;
}

/* One inbound IP packet of len bytes, already in the io buffer. lwIP checks and drops bad ones. */
int EXPORT(cl_input)(uint32_t len) {
	if (!netif_ready)
		return -ENOTCONN;
	if (len == 0 || len > CL_IO_SIZE || len > 0xffff) {
		input_rejected++;
		return -EMSGSIZE;
	}
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
	if (!p) {
		input_rejected++;
		return -ENOMEM;
	}
	pbuf_take(p, io_buf, (u16_t)len);
	if (nif.input(p, &nif) != ERR_OK)
		pbuf_free(p);
	return 0;
}

void EXPORT(cl_tick)(void) { sys_check_timeouts(); }

/* Milliseconds until the next timer is due. */
uint32_t EXPORT(cl_sleeptime)(void) { return sys_timeouts_sleeptime(); }

uint32_t EXPORT(cl_stat)(uint32_t which) {
	switch (which) {
	case 0: return lwip_stats.ip.recv;
	case 1: return lwip_stats.ip.drop;
	case 2: return lwip_stats.ip.chkerr;
	case 3: return lwip_stats.ip.lenerr;
	case 4: return lwip_stats.ip.proterr;
	case 5: return lwip_stats.tcp.recv;
	case 6: return lwip_stats.tcp.drop;
	case 7: return lwip_stats.tcp.chkerr;
	case 8: return lwip_stats.udp.drop;
	case 9: return lwip_stats.udp.chkerr;
	case 10: return lwip_stats.icmp.recv;
	case 11: return lwip_stats.icmp.xmit;
	case 12: return lwip_stats.icmp.drop;
	case 13: return input_rejected;
	case 14: return udp_queue_dropped;
	case 15: return output_oversized;
	case 16: return lwip_stats.mem.err;
	case 17: return lwip_stats.ip.xmit;
	case 18: return lwip_stats.icmp.chkerr;
	default: return 0;
	}
}

/* ---------------------------------------------------------------- TCP */

enum { SLOT_FREE, SLOT_LISTEN, SLOT_CONN };

/* Received data waits in a few pbuf chains: one chain's length is 16 bits, the window is larger. */
#define RX_CHAINS 16

struct tcp_slot {
	int kind;
	struct tcp_pcb *pcb; /* NULL once lwIP freed it (reset, abort) */
	struct pbuf *rx[RX_CHAINS]; /* received, not yet read: a ring of chains */
	uint32_t rx_head, rx_count, rx_bytes;
	int eof;
};

static struct tcp_slot tcp_slots[MAX_TCP];

static int tcp_alloc(int kind, struct tcp_pcb *pcb) {
	for (int i = 0; i < MAX_TCP; i++) {
		if (tcp_slots[i].kind == SLOT_FREE) {
			tcp_slots[i] = (struct tcp_slot){.kind = kind, .pcb = pcb};
			return i + 1;
		}
	}
	return -EMFILE;
}

static struct tcp_slot *tcp_get(uint32_t id, int kind) {
	if (id < 1 || id > MAX_TCP || tcp_slots[id - 1].kind != kind)
		return NULL;
	return &tcp_slots[id - 1];
}

static uint32_t slot_id(void *arg) { return (uint32_t)(uintptr_t)arg; }

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
	uint32_t id = slot_id(arg);
	struct tcp_slot *s = tcp_get(id, SLOT_CONN);
	(void)err;
	if (!s) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	if (!p) {
		s->eof = 1;
		js_event(EV_EOF, id, 0);
		return ERR_OK;
	}
	(void)pcb;
	struct pbuf **last = s->rx_count ? &s->rx[(s->rx_head + s->rx_count - 1) % RX_CHAINS] : NULL;
	if (last && (uint32_t)(*last)->tot_len + p->tot_len <= 0xffff) {
		pbuf_cat(*last, p);
	} else if (s->rx_count < RX_CHAINS) {
		s->rx[(s->rx_head + s->rx_count) % RX_CHAINS] = p;
		s->rx_count++;
	} else {
		return ERR_MEM; /* lwIP keeps it and offers it again later */
	}
	s->rx_bytes += p->tot_len;
	js_event(EV_READABLE, id, (int32_t)s->rx_bytes);
	return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len) {
	js_event(EV_SENT, slot_id(arg), tcp_sndbuf(pcb));
	(void)len;
	return ERR_OK;
}

static void on_err(void *arg, err_t err) {
	uint32_t id = slot_id(arg);
	struct tcp_slot *s = tcp_get(id, SLOT_CONN);
	if (!s)
		return;
	s->pcb = NULL; /* lwIP has freed it */
	js_event(EV_ERROR, id, err_to_errno(err));
}

static void conn_callbacks(struct tcp_pcb *pcb, uint32_t id) {
	tcp_arg(pcb, (void *)(uintptr_t)id);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_nagle_disable(pcb);
}

static err_t on_accept(void *arg, struct tcp_pcb *newpcb, err_t err) {
	if (err != ERR_OK || !newpcb)
		return ERR_VAL;
	int id = tcp_alloc(SLOT_CONN, newpcb);
	if (id < 0) {
		tcp_abort(newpcb);
		return ERR_ABRT;
	}
	conn_callbacks(newpcb, (uint32_t)id);
	js_event(EV_ACCEPT, slot_id(arg), id);
	return ERR_OK;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err) {
	(void)pcb;
	js_event(EV_CONNECTED, slot_id(arg), err_to_errno(err));
	return ERR_OK;
}

int EXPORT(cl_tcp_listen)(uint32_t ip, uint32_t port) {
	if (!netif_ready)
		return -ENOTCONN;
	if (port > 0xffff)
		return -EINVAL;
	int id = tcp_alloc(SLOT_LISTEN, NULL);
	if (id < 0)
		return id;
	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb) {
		tcp_slots[id - 1].kind = SLOT_FREE;
		return -ENOMEM;
	}
	ip_addr_t a = IPADDR4_INIT(lwip_htonl(ip));
	err_t e = tcp_bind(pcb, &a, (u16_t)port);
	if (e != ERR_OK) {
		tcp_close(pcb);
		tcp_slots[id - 1].kind = SLOT_FREE;
		return err_to_errno(e);
	}
	struct tcp_pcb *lpcb = tcp_listen_with_backlog_and_err(pcb, TCP_DEFAULT_LISTEN_BACKLOG, &e);
	if (!lpcb) {
		tcp_close(pcb);
		tcp_slots[id - 1].kind = SLOT_FREE;
		return err_to_errno(e);
	}
	tcp_slots[id - 1].pcb = lpcb;
	tcp_arg(lpcb, (void *)(uintptr_t)id);
	tcp_accept(lpcb, on_accept);
	return id;
}

/* The local port a listener or connection is bound to. */
int EXPORT(cl_tcp_local_port)(uint32_t id) {
	struct tcp_slot *s = tcp_get(id, SLOT_LISTEN);
	if (!s)
		s = tcp_get(id, SLOT_CONN);
	if (!s || !s->pcb)
		return -EBADF;
	return s->pcb->local_port;
}

int EXPORT(cl_tcp_connect)(uint32_t ip, uint32_t port) {
	if (!netif_ready)
		return -ENOTCONN;
	if (port == 0 || port > 0xffff)
		return -EINVAL;
	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb)
		return -ENOMEM;
	int id = tcp_alloc(SLOT_CONN, pcb);
	if (id < 0) {
		tcp_close(pcb);
		return id;
	}
	conn_callbacks(pcb, (uint32_t)id);
	ip_addr_t a = IPADDR4_INIT(lwip_htonl(ip));
	err_t e = tcp_connect(pcb, &a, (u16_t)port, on_connected);
	if (e != ERR_OK) {
		tcp_arg(pcb, NULL);
		tcp_abort(pcb);
		tcp_slots[id - 1].kind = SLOT_FREE;
		return err_to_errno(e);
	}
	return id;
}

/* The MSS this connection sends with (fitted to the interface MTU). */
int EXPORT(cl_tcp_mss)(uint32_t id) {
	struct tcp_slot *s = tcp_get(id, SLOT_CONN);
	if (!s || !s->pcb)
		return -EBADF;
	return tcp_mss(s->pcb);
}

/* Queues up to len bytes from the io buffer; returns how many were taken (0: send buffer full). */
int EXPORT(cl_tcp_send)(uint32_t id, uint32_t len) {
	struct tcp_slot *s = tcp_get(id, SLOT_CONN);
	if (!s)
		return -EBADF;
	if (!s->pcb)
		return -ECONNRESET;
	if (len > CL_IO_SIZE)
		return -EINVAL;
	uint32_t room = tcp_sndbuf(s->pcb);
	uint32_t n = len < room ? len : room;
	if (n > 0xffff)
		n = 0xffff;
	if (n == 0)
		return 0;
	err_t e = tcp_write(s->pcb, io_buf, (u16_t)n, TCP_WRITE_FLAG_COPY);
	if (e == ERR_MEM)
		n = 0; /* the segment queue is full: try again after EV_SENT */
	else if (e != ERR_OK)
		return err_to_errno(e);
	e = tcp_output(s->pcb);
	if (e != ERR_OK && e != ERR_MEM)
		return err_to_errno(e);
	return (int)n;
}

/* Copies up to max received bytes into the io buffer and reopens the window by as much. */
int EXPORT(cl_tcp_recv)(uint32_t id, uint32_t max) {
	struct tcp_slot *s = tcp_get(id, SLOT_CONN);
	if (!s)
		return -EBADF;
	if (!s->rx_count)
		return s->pcb || s->eof ? 0 : -ECONNRESET;
	if (max > CL_IO_SIZE)
		max = CL_IO_SIZE;
	uint32_t n = 0;
	while (s->rx_count && n < max) {
		struct pbuf **head = &s->rx[s->rx_head];
		uint32_t want = max - n;
		uint16_t take = (uint16_t)((*head)->tot_len < want ? (*head)->tot_len : want);
		pbuf_copy_partial(*head, io_buf + n, take, 0);
		*head = pbuf_free_header(*head, take);
		n += take;
		if (!*head) {
			s->rx_head = (s->rx_head + 1) % RX_CHAINS;
			s->rx_count--;
		}
	}
	s->rx_bytes -= n;
	for (uint32_t left = n; s->pcb && left > 0;) {
		uint16_t chunk = (uint16_t)(left > 0xffff ? 0xffff : left);
		tcp_recved(s->pcb, chunk);
		left -= chunk;
	}
	return (int)n;
}

/* Bytes received and not yet read. */
int EXPORT(cl_tcp_pending)(uint32_t id) {
	struct tcp_slot *s = tcp_get(id, SLOT_CONN);
	if (!s)
		return -EBADF;
	return (int)s->rx_bytes;
}

/* Ends the sending direction (FIN); receiving goes on. */
int EXPORT(cl_tcp_shutdown)(uint32_t id) {
	struct tcp_slot *s = tcp_get(id, SLOT_CONN);
	if (!s)
		return -EBADF;
	if (!s->pcb)
		return -ENOTCONN;
	return err_to_errno(tcp_shutdown(s->pcb, 0, 1));
}

/* Releases the id. A live connection is closed gracefully (or reset when lwIP has no memory). */
int EXPORT(cl_tcp_close)(uint32_t id) {
	struct tcp_slot *s = tcp_get(id, SLOT_CONN);
	if (!s)
		s = tcp_get(id, SLOT_LISTEN);
	if (!s)
		return -EBADF;
	if (s->pcb) {
		tcp_arg(s->pcb, NULL);
		if (s->kind == SLOT_CONN) {
			tcp_recv(s->pcb, NULL);
			tcp_sent(s->pcb, NULL);
			tcp_err(s->pcb, NULL);
		} else {
			tcp_accept(s->pcb, NULL);
		}
		if (tcp_close(s->pcb) != ERR_OK)
			tcp_abort(s->pcb);
	}
	for (; s->rx_count; s->rx_count--, s->rx_head = (s->rx_head + 1) % RX_CHAINS)
		pbuf_free(s->rx[s->rx_head]);
	*s = (struct tcp_slot){.kind = SLOT_FREE};
	return 0;
}

/* ---------------------------------------------------------------- UDP */

struct datagram {
	struct pbuf *p;
	uint32_t ip;
	uint16_t port;
};

struct udp_slot {
	struct udp_pcb *pcb;
	struct datagram queue[UDP_QUEUE];
	uint32_t head, count;
};

static struct udp_slot udp_slots[MAX_UDP];
static uint32_t udp_meta[2]; /* source of the last datagram read: ip, port */

static struct udp_slot *udp_get(uint32_t id) {
	if (id < 1 || id > MAX_UDP || !udp_slots[id - 1].pcb)
		return NULL;
	return &udp_slots[id - 1];
}

static void on_datagram(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr, u16_t port) {
	uint32_t id = slot_id(arg);
	struct udp_slot *s = udp_get(id);
	(void)pcb;
	if (!s || s->count == UDP_QUEUE) {
		udp_queue_dropped++;
		pbuf_free(p);
		return;
	}
	struct datagram *d = &s->queue[(s->head + s->count) % UDP_QUEUE];
	*d = (struct datagram){p, lwip_ntohl(ip_2_ip4(addr)->addr), port};
	s->count++;
	js_event(EV_DATAGRAM, id, (int32_t)s->count);
}

int EXPORT(cl_udp_bind)(uint32_t ip, uint32_t port) {
	if (!netif_ready)
		return -ENOTCONN;
	if (port > 0xffff)
		return -EINVAL;
	int id = -EMFILE;
	for (int i = 0; i < MAX_UDP; i++) {
		if (!udp_slots[i].pcb) {
			id = i + 1;
			break;
		}
	}
	if (id < 0)
		return id;
	struct udp_pcb *pcb = udp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb)
		return -ENOMEM;
	ip_addr_t a = IPADDR4_INIT(lwip_htonl(ip));
	err_t e = udp_bind(pcb, &a, (u16_t)port);
	if (e != ERR_OK) {
		udp_remove(pcb);
		return err_to_errno(e);
	}
	udp_slots[id - 1] = (struct udp_slot){.pcb = pcb};
	udp_recv(pcb, on_datagram, (void *)(uintptr_t)id);
	return id;
}

int EXPORT(cl_udp_local_port)(uint32_t id) {
	struct udp_slot *s = udp_get(id);
	return s ? s->pcb->local_port : -EBADF;
}

/* Sends len bytes of the io buffer as one datagram; it must fit the interface MTU. */
int EXPORT(cl_udp_sendto)(uint32_t id, uint32_t len, uint32_t ip, uint32_t port) {
	struct udp_slot *s = udp_get(id);
	if (!s)
		return -EBADF;
	if (port == 0 || port > 0xffff)
		return -EINVAL;
	if (len + 28 > nif.mtu)
		return -EMSGSIZE;
	struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
	if (!p)
		return -ENOMEM;
	pbuf_take(p, io_buf, (u16_t)len);
	ip_addr_t a = IPADDR4_INIT(lwip_htonl(ip));
	err_t e = udp_sendto(s->pcb, p, &a, (u16_t)port);
	pbuf_free(p);
	return err_to_errno(e);
}

/* Moves the oldest queued datagram into the io buffer; its source is at cl_udp_meta(). */
int EXPORT(cl_udp_recv)(uint32_t id) {
	struct udp_slot *s = udp_get(id);
	if (!s)
		return -EBADF;
	if (s->count == 0)
		return -EAGAIN;
	struct datagram *d = &s->queue[s->head];
	uint16_t n = pbuf_copy_partial(d->p, io_buf, d->p->tot_len, 0);
	udp_meta[0] = d->ip;
	udp_meta[1] = d->port;
	pbuf_free(d->p);
	*d = (struct datagram){0};
	s->head = (s->head + 1) % UDP_QUEUE;
	s->count--;
	return n;
}

void *EXPORT(cl_udp_meta)(void) { return udp_meta; }

int EXPORT(cl_udp_close)(uint32_t id) {
	struct udp_slot *s = udp_get(id);
	if (!s)
		return -EBADF;
	for (uint32_t i = 0; i < s->count; i++)
		pbuf_free(s->queue[(s->head + i) % UDP_QUEUE].p);
	udp_remove(s->pcb);
	memset(s, 0, sizeof(*s));
	return 0;
}
