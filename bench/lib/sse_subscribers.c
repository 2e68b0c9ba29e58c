// Many Server-Sent Events subscribers in one process, for bench/broadcast.py: COUNT
// non-blocking HTTP/1.1 connections to GET /askr/events?channel=CHANNEL on 127.0.0.1:PORT,
// spread over the source addresses 127.0.0.2-127.0.0.9 (so that tens of thousands of
// connections, and the TIME_WAIT they leave, never run out of ephemeral ports).
//
// Once every subscription has answered 200 it prints "ready N" and reads events. Each
// event's data is "<kind> <seq> <sent>", <sent> being CLOCK_MONOTONIC in nanoseconds when
// the publisher (PHP's hrtime(true), the same clock) published it; kind L events are
// timed one by one (receive time minus <sent>), kind T events are a burst, counted. When
// every subscriber has LATENCY L events and BURST T events (or nothing came for TIMEOUT
// seconds) it prints one JSON line of results and exits.
//
// Usage: sse_subscribers PORT COUNT CHANNEL LATENCY BURST TIMEOUT
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { carry_bytes = 1024, max_in_flight = 256 };

struct conn {
    int fd;
    int state;  // 0 connecting, 1 waiting for the head, 2 streaming
    int carry_length;
    int latency_seen, burst_seen;
    char carry[carry_bytes];  // an unfinished line, or the head so far
};

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int compare_u32(const void* a, const void* b) {
    const uint32_t x = *(const uint32_t*)a, y = *(const uint32_t*)b;
    return x < y ? -1 : x > y;
}

// A decimal number at *at (at least one digit), moving *at past it.
static int parse_number(const char** at, const char* end, uint64_t* out) {
    const char* p = *at;
    uint64_t n = 0;
    while (p < end && *p >= '0' && *p <= '9') n = n * 10 + (uint64_t)(*p++ - '0');
    if (p == *at) return 0;
    *at = p;
    *out = n;
    return 1;
}

// "data: <kind> <seq> <sent>" (sscanf per line cost more than the rest of the client).
static int parse_data_line(const char* line, size_t length, char* kind, uint64_t* seq,
                           uint64_t* sent) {
    const char* end = line + length;
    if (length < 8 || memcmp(line, "data: ", 6) != 0) return 0;
    *kind = line[6];
    const char* at = line + 7;
    if (*at++ != ' ' || !parse_number(&at, end, seq)) return 0;
    if (at >= end || *at++ != ' ') return 0;
    return parse_number(&at, end, sent);
}

static void die(const char* what) {
    fprintf(stderr, "sse_subscribers: %s: %s\n", what, strerror(errno));
    exit(1);
}

int main(int argc, char** argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: sse_subscribers PORT COUNT CHANNEL LATENCY BURST TIMEOUT\n");
        return 2;
    }
    const int port = atoi(argv[1]), count = atoi(argv[2]);
    const char* channel = argv[3];
    const int latency_events = atoi(argv[4]), burst_events = atoi(argv[5]);
    const int timeout_s = atoi(argv[6]);

    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < (rlim_t)count + 64) {
        fprintf(stderr, "sse_subscribers: %d connections need %d open files, the limit is %llu\n",
                count, count + 64, (unsigned long long)limit.rlim_cur);
        return 1;
    }

    char request[512];
    const int request_length = snprintf(request, sizeof request,
                                        "GET /askr/events?channel=%s HTTP/1.1\r\n"
                                        "Host: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n",
                                        channel);
    struct conn* conns = calloc((size_t)count, sizeof *conns);
    uint32_t* latencies = malloc(sizeof(uint32_t) * ((size_t)count * latency_events + 1));
    if (!conns || !latencies) die("malloc");
    size_t latency_count = 0;
    uint64_t burst_total = 0, burst_first_sent = 0, burst_last_received = 0;
    const int epoll = epoll_create1(0);
    if (epoll < 0) die("epoll_create1");

    struct sockaddr_in server = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &server.sin_addr);
    int started = 0, in_flight = 0, ready = 0, done = 0;
    static struct epoll_event events[8192];
    static char buffer[1 << 16];
    uint64_t last_activity = now_ns();

    while (done < count) {
        // Keep a bounded number of connects in flight (the listen backlog is finite).
        while (started < count && in_flight < max_in_flight) {
            struct conn* c = &conns[started];
            c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (c->fd < 0) die("socket");
            const int one = 1;
            setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            struct sockaddr_in source = {.sin_family = AF_INET};
            source.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(started % 8));
            if (bind(c->fd, (struct sockaddr*)&source, sizeof source) != 0) die("bind");
            if (connect(c->fd, (struct sockaddr*)&server, sizeof server) != 0 &&
                errno != EINPROGRESS)
                die("connect");
            struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)started};
            if (epoll_ctl(epoll, EPOLL_CTL_ADD, c->fd, &e) != 0) die("epoll_ctl");
            ++started;
            ++in_flight;
        }
        const int n = epoll_wait(epoll, events, (int)(sizeof events / sizeof *events), 1000);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        const uint64_t now = now_ns();
        if (n <= 0) {
            if (now - last_activity > (uint64_t)timeout_s * 1000000000u) break;
            continue;
        }
        last_activity = now;
        for (int i = 0; i < n; ++i) {
            struct conn* c = &conns[events[i].data.u32];
            if (c->state == 0) {
                int error = 0;
                socklen_t length = sizeof error;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &length);
                if (error) {
                    errno = error;
                    die("connect (raise askr's --max-connections / the listen backlog?)");
                }
                if (send(c->fd, request, (size_t)request_length, MSG_NOSIGNAL) != request_length)
                    die("send");
                // Edge-triggered: a read that returns less than the buffer took all there
                // was, and bytes that come after it raise a new event, so each event of the
                // stream costs one recv() and no second look at the socket by epoll_wait.
                struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.u32 = events[i].data.u32};
                epoll_ctl(epoll, EPOLL_CTL_MOD, c->fd, &e);
                c->state = 1;
                continue;
            }
        read_again:;
            const ssize_t got = recv(c->fd, buffer, sizeof buffer, 0);
            const uint64_t received = now_ns();
            if (got <= 0) {
                if (got < 0 && errno == EAGAIN) continue;
                fprintf(stderr, "sse_subscribers: subscriber %u closed by the server (%s)\n",
                        events[i].data.u32, c->state == 1 ? "before its head" : "mid-stream");
                return 1;
            }
            size_t at = 0;
            if (c->state == 1) {
                // The head is small: it fits in the carry buffer.
                const size_t take = (size_t)got < (size_t)(carry_bytes - 1 - c->carry_length)
                                        ? (size_t)got
                                        : (size_t)(carry_bytes - 1 - c->carry_length);
                memcpy(c->carry + c->carry_length, buffer, take);
                c->carry_length += (int)take;
                c->carry[c->carry_length] = 0;
                char* end = strstr(c->carry, "\r\n\r\n");
                if (!end) continue;
                if (strncmp(c->carry, "HTTP/1.1 200", 12) != 0) {
                    fprintf(stderr, "sse_subscribers: subscription refused: %.*s\n",
                            (int)(strchr(c->carry, '\r') - c->carry), c->carry);
                    return 1;
                }
                const size_t head = (size_t)(end + 4 - c->carry);
                at = head - (size_t)(c->carry_length - (int)take);  // first body byte in buffer
                c->carry_length = 0;
                c->state = 2;
                --in_flight;
                if (++ready == count) {
                    printf("ready %d\n", count);
                    fflush(stdout);
                }
            }
            // Lines of the stream (chunk sizes and the retry line are lines too, ignored);
            // an unfinished line waits in the carry buffer for the next read. A whole line
            // in the buffer is looked at where it is: only "data: " lines are parsed.
            while (at < (size_t)got) {
                char* const start = buffer + at;
                char* const eol = memchr(start, '\n', (size_t)got - at);
                const size_t piece = eol ? (size_t)(eol - start) : (size_t)got - at;
                if (!eol || c->carry_length > 0) {
                    if (c->carry_length + piece >= carry_bytes) {
                        c->carry_length = 0;  // not a line of ours
                    } else {
                        memcpy(c->carry + c->carry_length, start, piece);
                        c->carry_length += (int)piece;
                    }
                    if (!eol) break;
                }
                at += piece + 1;
                const char* line = start;
                size_t length = piece;
                if (c->carry_length > 0) {
                    line = c->carry;
                    length = (size_t)c->carry_length;
                    c->carry_length = 0;
                }
                char kind;
                uint64_t seq, sent;
                if (!parse_data_line(line, length, &kind, &seq, &sent)) continue;
                const int was_done = c->latency_seen >= latency_events && c->burst_seen >= burst_events;
                if (kind == 'L' && c->latency_seen < latency_events) {
                    ++c->latency_seen;
                    latencies[latency_count++] = (uint32_t)((received - sent) / 1000);
                } else if (kind == 'T') {
                    ++c->burst_seen;
                    ++burst_total;
                    if (seq == 0 && (!burst_first_sent || sent < burst_first_sent))
                        burst_first_sent = sent;
                    burst_last_received = received;
                }
                if (!was_done && c->latency_seen >= latency_events && c->burst_seen >= burst_events)
                    ++done;
            }
            if ((size_t)got == sizeof buffer) goto read_again;  // there may be more
        }
    }
    if (ready < count) {
        fprintf(stderr, "sse_subscribers: only %d of %d subscriptions answered\n", ready, count);
        return 1;
    }
    qsort(latencies, latency_count, sizeof *latencies, compare_u32);
    const double p50 = latency_count ? latencies[latency_count / 2] / 1000.0 : -1;
    const double p99 = latency_count ? latencies[(latency_count * 99) / 100] / 1000.0 : -1;
    const double max = latency_count ? latencies[latency_count - 1] / 1000.0 : -1;
    const double burst_seconds =
        burst_total && burst_last_received > burst_first_sent
            ? (double)(burst_last_received - burst_first_sent) / 1e9
            : 0;
    printf("{\"subscribers\": %d, \"complete\": %d, \"latency_samples\": %zu, \"p50_ms\": %.3f, "
           "\"p99_ms\": %.3f, \"max_ms\": %.3f, \"burst_received\": %llu, \"burst_seconds\": %.3f, "
           "\"burst_per_s\": %.0f}\n",
           count, done, latency_count, p50, p99, max, (unsigned long long)burst_total,
           burst_seconds, burst_seconds > 0 ? (double)burst_total / burst_seconds : 0);
    return done == count ? 0 : 1;
}
