/*
 * loopback_bind.so: LD_PRELOAD'ed into the embedded default's Flink processes, it turns a bind to
 * every interface (0.0.0.0 or ::) into a bind to the loopback (127.0.0.1, or ::ffff:127.0.0.1 on a
 * dual-stack socket). PyFlink's Beam gRPC servers inside the TaskManager, and the Python worker's,
 * bind every interface and Flink 2.3 has no setting for their address; nothing of the platform
 * should be reachable from another machine. Binds to a given address are left as they are.
 * Built by `credit-platform setup` with the machine's C compiler.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static int (*real_bind)(int, const struct sockaddr *, socklen_t);
    if (!real_bind) {
        real_bind = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
    }
    if (addr && addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in v4;
        memcpy(&v4, addr, sizeof v4);
        if (v4.sin_addr.s_addr == htonl(INADDR_ANY)) {
            v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return real_bind(fd, (const struct sockaddr *)&v4, sizeof v4);
        }
    } else if (addr && addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 v6;
        memcpy(&v6, addr, sizeof v6);
        if (IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr)) {
            int v6only = 0;
            socklen_t size = sizeof v6only;
            getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &size);
            if (v6only) {
                v6.sin6_addr = in6addr_loopback;
            } else { /* dual-stack: IPv4 clients of 127.0.0.1 only */
                memset(&v6.sin6_addr, 0, sizeof v6.sin6_addr);
                v6.sin6_addr.s6_addr[10] = 0xff;
                v6.sin6_addr.s6_addr[11] = 0xff;
                v6.sin6_addr.s6_addr[12] = 127;
                v6.sin6_addr.s6_addr[15] = 1;
            }
            return real_bind(fd, (const struct sockaddr *)&v6, sizeof v6);
        }
    }
    return real_bind(fd, addr, len);
}
