/* Socket addresses as keyhole compares and prints them: the IPv4 address an
 * IPv6 one stands for, and the bare IP for logs and records. Pure functions,
 * no policy: the deny ranges live in policy/cidr.h. */
#ifndef KH_SOCKADDR_H
#define KH_SOCKADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Are the first bits bits of a and b equal? */
bool kh_addr_prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits);

/* If sa is an IPv4-mapped IPv6 address, writes the plain IPv4 form to out
 * and returns true. */
bool kh_sockaddr_unmap(const struct sockaddr *sa, struct sockaddr_storage *out);

/* If sa is an IPv6 address standing for an IPv4 one (IPv4-mapped, NAT64
 * 64:ff9b::/96, 6to4 2002::/16, IPv4-compatible ::/96), writes that IPv4
 * address (same port) to out and returns the form's name, else NULL. */
const char *kh_sockaddr_embedded_v4(const struct sockaddr *sa, struct sockaddr_storage *out);

/* "1.2.3.4" / "::1" (no port) into out (INET6_ADDRSTRLEN bytes at least). */
void kh_sockaddr_ip(const struct sockaddr *sa, char *out, size_t len);

#endif
