/* lwIP's checksum routine (LWIP_CHKSUM): see checksum.c. */
#ifndef CLOISTER_CHECKSUM_H
#define CLOISTER_CHECKSUM_H
#include <stdint.h>
uint16_t cl_chksum(const void *dataptr, int len);
#endif
