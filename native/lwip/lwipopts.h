/* lwIP configuration for Cloister's in-enclave TCP/IP stack (lwIP's raw API, no OS).
 *
 * One IPv4 point-to-point interface behind the WireGuard tunnel: no Ethernet, no ARP, no DHCP, no
 * fragment reassembly (the tunnel MTU is known and both ends fit their segments to it). TCP windows
 * are large (window scaling) so a bulk transfer is not limited by round trips through the host. All
 * memory comes from lwIP's own fixed heap and pools: a flood cannot make the stack grow. */
#ifndef CLOISTER_LWIPOPTS_H
#define CLOISTER_LWIPOPTS_H

#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_NETIF_API 0

#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_ACD 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
#define LWIP_RAW 0
#define LWIP_ICMP 1
#define LWIP_UDP 1
#define LWIP_TCP 1
#define IP_FORWARD 0
#define IP_REASSEMBLY 0
#define IP_FRAG 0
#define IP_SOF_BROADCAST 0
#define LWIP_BROADCAST_PING 0
#define LWIP_MULTICAST_PING 0

#define LWIP_STATS 1
#define LWIP_STATS_DISPLAY 0
#define MIB2_STATS 0
#define LWIP_DEBUG 0

/* Memory: a 24 MiB heap for segments and queued data, fixed pools for control blocks. */
#define MEM_ALIGNMENT 4
#define MEM_SIZE (24 * 1024 * 1024)
#define MEMP_NUM_PBUF 1024
#define MEMP_NUM_UDP_PCB 64
#define MEMP_NUM_TCP_PCB 256
#define MEMP_NUM_TCP_PCB_LISTEN 32
#define MEMP_NUM_TCP_SEG 4096
#define MEMP_NUM_REASSDATA 1
#define MEMP_NUM_SYS_TIMEOUT (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 4)
#define PBUF_POOL_SIZE 256
#define PBUF_POOL_BUFSIZE 1600

/* TCP: MSS up to 1460; the interface MTU (the tunnel's, set by the embedder) lowers the MSS each
 * connection advertises and uses. 256 KiB windows, scaled by 2^3 on the wire. */
#define TCP_MSS 1460
#define TCP_CALCULATE_EFF_SEND_MSS 1
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 3
#define TCP_WND (256 * 1024)
#define TCP_SND_BUF (256 * 1024)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / 536)
#define TCP_SNDLOWAT 32768
/* A window update of its own only once reading has opened a quarter of the window (lwIP's default
 * caps this at 4 segments for small windows): a reader taking 16 KiB at a time otherwise adds a pure
 * ACK, a WireGuard seal and open, per read. ACKs of data carry the grown window anyway. */
#define TCP_WND_UPDATE_THRESHOLD (TCP_WND / 4)
#define TCP_SNDQUEUELOWAT (TCP_SND_QUEUELEN / 4)
#define TCP_QUEUE_OOSEQ 1
#define TCP_OOSEQ_MAX_BYTES TCP_WND
#define TCP_OOSEQ_MAX_PBUFS 512
#define LWIP_TCP_SACK_OUT 1
#define TCP_LISTEN_BACKLOG 1
#define TCP_DEFAULT_LISTEN_BACKLOG 64
#define LWIP_TCP_KEEPALIVE 1
#define TCP_OVERSIZE TCP_MSS
#define LWIP_TCP_TIMESTAMPS 0
#define LWIP_CALLBACK_API 1
#define LWIP_EVENT_API 0

/* Checksums are generated and checked in software: the tunnel carries raw IP packets. */
#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_UDP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_GEN_ICMP 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_UDP 1
#define CHECKSUM_CHECK_TCP 1
#define CHECKSUM_CHECK_ICMP 1
#define LWIP_CHECKSUM_ON_COPY 1
/* The checksum loop in wasm SIMD (checksum.c): receiving a segment is mostly its checksum, and
 * lwIP's own loops add at most 32 bits at a time. */
#include "checksum.h"
#define LWIP_CHKSUM cl_chksum

#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK 0
#define LWIP_SINGLE_NETIF 1
#define LWIP_HAVE_LOOPIF 0
#define LWIP_NETIF_LOOPBACK 0

/* Initial sequence numbers from the embedder's random source, not lwIP's predictable counter. */
#include <stdint.h>
uint32_t cl_tcp_isn(void);
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) cl_tcp_isn()

#endif
