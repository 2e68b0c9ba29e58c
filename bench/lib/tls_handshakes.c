// TLS handshakes per second against 127.0.0.1:PORT, for bench/run's tls-full and
// tls-resumed rows. THREADS threads each open connections one after the other for
// SECONDS seconds: TCP connect, TLS handshake (ALPN http/1.1, the certificate not
// verified: the benchmark's own self-signed one), one request "GET PATH" with
// "Connection: close", read to the end, close. The request is what a real client sends
// on a new connection, and it is how TLS 1.3 delivers the session tickets (after the
// handshake, read with the answer: RFC 8446 section 4.6.1).
//
// MODE "full": no session is offered, every handshake is a full one (ECDHE and the
// server's signature). MODE "resumed": each thread keeps the tickets (or TLS 1.2
// sessions) servers send and offers the newest on its next connection, each one once
// (RFC 8446 appendix C.4: clients should not reuse a ticket); with no ticket left the
// handshake is a full one (as is a thread's first). SSL_session_reused() says whether
// the server resumed.
//
// Prints one line of figures for bench/lib/report.py:
//   handshakes N resumed R errors E seconds S bytes B p50_ms X p99_ms Y
// (p50/p99: time from connect() to the last byte of the answer.)
//
// Usage: tls_handshakes PORT PATH MODE THREADS SECONDS
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { max_threads = 256, max_samples = 1 << 20, max_tickets = 8 };

// The tickets a thread has not used yet, newest last.
struct tickets {
    SSL_SESSION *saved[max_tickets];
    int count;
};

struct worker {
    pthread_t thread;
    uint64_t handshakes, resumed, errors, bytes;
    uint32_t *latency_us;  // one sample a connection, up to max_samples
    uint64_t samples;
};

static int port;
static const char *path;
static int resume;
static uint64_t deadline_ns;
static SSL_CTX *ctx;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int connect_loopback(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// A session (a TLS 1.3 ticket, or a TLS 1.2 session) the server gave, kept for the
// thread's next connections (the oldest dropped when full). In TLS 1.3 tickets come
// after the handshake, so the callback is the way to receive them (SSL_get1_session(3));
// returning 1 keeps the reference.
static int save_session(SSL *ssl, SSL_SESSION *newest) {
    struct tickets *tickets = SSL_get_app_data(ssl);
    if (tickets->count == max_tickets) {
        SSL_SESSION_free(tickets->saved[0]);
        memmove(tickets->saved, tickets->saved + 1, sizeof tickets->saved[0] * (max_tickets - 1));
        tickets->count--;
    }
    tickets->saved[tickets->count++] = newest;
    return 1;
}

// One connection: handshake, request, answer. Returns 0 when an HTTP 200 answer came. In
// resumed mode it offers (and gives up) the newest ticket, and keeps those it receives.
static int one_connection(struct worker *w, struct tickets *tickets) {
    int fd = connect_loopback();
    if (fd < 0) return -1;
    SSL *ssl = SSL_new(ctx);
    if (!ssl) {
        close(fd);
        return -1;
    }
    int status = -1;
    SSL_set_fd(ssl, fd);
    SSL_set_app_data(ssl, tickets);
    if (resume && tickets->count > 0) {
        SSL_SESSION *offered = tickets->saved[--tickets->count];
        SSL_set_session(ssl, offered);  // takes its own reference
        SSL_SESSION_free(offered);
    }
    if (SSL_connect(ssl) == 1) {
        char request[512];
        int length = snprintf(request, sizeof request,
                              "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                              path, port);
        if (SSL_write(ssl, request, length) == length) {
            char buffer[16384];
            uint64_t total = 0;
            int got, ok_status = 0;
            while ((got = SSL_read(ssl, buffer, sizeof buffer)) > 0) {
                if (total == 0 && got >= 12 && memcmp(buffer + 9, "200", 3) == 0) ok_status = 1;
                total += (uint64_t)got;
            }
            // The answer ends with the server's close (close_notify, or a plain FIN, which
            // SSL_OP_IGNORE_UNEXPECTED_EOF reports the same way).
            int error = SSL_get_error(ssl, got);
            if (ok_status && (error == SSL_ERROR_ZERO_RETURN)) {
                status = 0;
                w->bytes += total;
                if (SSL_session_reused(ssl)) w->resumed++;
                // The server closed after a complete answer: a normal end. Marked as
                // such, or SSL_free() would take the session for a broken one and make
                // it unresumable (SSL_set_shutdown(3)); the socket is closed, so no
                // close_notify is sent back.
                SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
            }
        }
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    return status;
}

static void *run(void *argument) {
    struct worker *w = argument;
    struct tickets tickets = {.count = 0};
    while (now_ns() < deadline_ns) {
        uint64_t start = now_ns();
        if (one_connection(w, &tickets) != 0) {
            w->errors++;
            continue;
        }
        w->handshakes++;
        if (w->samples < max_samples) w->latency_us[w->samples++] = (uint32_t)((now_ns() - start) / 1000);
    }
    while (tickets.count > 0) SSL_SESSION_free(tickets.saved[--tickets.count]);
    return NULL;
}

static int by_value(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: tls_handshakes PORT PATH full|resumed THREADS SECONDS\n");
        return 2;
    }
    port = atoi(argv[1]);
    path = argv[2];
    resume = strcmp(argv[3], "resumed") == 0;
    int threads = atoi(argv[4]), seconds = atoi(argv[5]);
    if (port <= 0 || (!resume && strcmp(argv[3], "full") != 0) || threads < 1 || threads > max_threads || seconds < 1) {
        fprintf(stderr, "tls_handshakes: bad arguments (PORT PATH full|resumed THREADS 1-%d SECONDS)\n", max_threads);
        return 2;
    }
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        fprintf(stderr, "tls_handshakes: SSL_CTX_new failed\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);  // a write to a server that closed: an error, not the end
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // A server that closes without close_notify after the answer is not an attack here
    // (the answer's length is not checked): no fatal error, the session stays usable.
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
    if (resume) {
        // The client keeps its tickets itself (per thread), not in OpenSSL's cache.
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, save_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }

    static struct worker workers[max_threads];
    uint64_t start = now_ns();
    deadline_ns = start + (uint64_t)seconds * 1000000000u;
    for (int i = 0; i < threads; i++) {
        workers[i].latency_us = malloc(sizeof(uint32_t) * max_samples);
        if (!workers[i].latency_us || pthread_create(&workers[i].thread, NULL, run, &workers[i]) != 0) {
            fprintf(stderr, "tls_handshakes: cannot start thread %d\n", i);
            return 1;
        }
    }
    uint64_t handshakes = 0, resumed = 0, errors = 0, bytes = 0, samples = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(workers[i].thread, NULL);
        handshakes += workers[i].handshakes;
        resumed += workers[i].resumed;
        errors += workers[i].errors;
        bytes += workers[i].bytes;
        samples += workers[i].samples;
    }
    double elapsed = (double)(now_ns() - start) / 1e9;
    uint32_t *all = malloc(sizeof(uint32_t) * (samples ? samples : 1));
    uint64_t n = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + n, workers[i].latency_us, sizeof(uint32_t) * workers[i].samples);
        n += workers[i].samples;
    }
    qsort(all, n, sizeof *all, by_value);
    double p50 = n ? all[(n - 1) / 2] / 1000.0 : 0, p99 = n ? all[(n - 1) * 99 / 100] / 1000.0 : 0;
    printf("handshakes %llu resumed %llu errors %llu seconds %.3f bytes %llu p50_ms %.3f p99_ms %.3f\n",
           (unsigned long long)handshakes, (unsigned long long)resumed, (unsigned long long)errors, elapsed,
           (unsigned long long)bytes, p50, p99);
    SSL_CTX_free(ctx);
    return handshakes > 0 ? 0 : 1;
}
