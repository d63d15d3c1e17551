/* SPDX-License-Identifier: MIT */
/* harness.c: a service on a thread, fed one loopback HTTP request per fuzz input. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "harness.h"

static int port;
static enum jc_svc svc;
static jc_app_setup_fn *svc_setup;

static void *run(void *arg)
{
    (void)arg;
    exit(jc_app_main(svc, svc_setup)); /* the service only returns on a fatal error */
    return NULL;
}

static int closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), p;

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    p = ntohs(a.sin_port);
    close(fd); /* free again: nothing listens there */
    return p;
}

static int dial(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_port = htons((uint16_t)port);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void harness_start(enum jc_svc service, jc_app_setup_fn *setup, const char *const *vars)
{
    char buf[128];
    pthread_t t;
    int i, fd;

    /* the service thread still runs when libFuzzer exits: OpenSSL must not tear itself down
     * under it (its atexit cleanup would pull the HMAC and JWT code's state away) */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
    svc = service;
    svc_setup = setup;
    port = closed_port();
    snprintf(buf, sizeof(buf), "%d", port);
    setenv("PORT", buf, 1);
    setenv("JIVE_BIND", "127.0.0.1", 1);
    setenv("JIVE_LOG_LEVEL", "error", 1);
    snprintf(buf, sizeof(buf), "postgres://jive@127.0.0.1:%d/jive?connect_timeout=1",
             closed_port());
    setenv("DATABASE_URL", buf, 1);
    snprintf(buf, sizeof(buf), "redis://127.0.0.1:%d/0", closed_port());
    setenv("REDIS_URL", buf, 1);
    for (i = 0; vars != NULL && vars[i] != NULL; i++)
        putenv((char *)vars[i]);
    if (pthread_create(&t, NULL, run, NULL) != 0)
        abort();
    pthread_detach(t);
    for (i = 0; i < 500; i++) {
        if ((fd = dial()) >= 0) {
            close(fd);
            return;
        }
        usleep(10000);
    }
    fprintf(stderr, "harness: the service did not listen on %d\n", port);
    abort();
}

const uint8_t *harness_body(const uint8_t *data, size_t size, size_t *len)
{
    size_t i;

    for (i = 0; i + 1 < size; i++)
        if (data[i] == '\n' && data[i + 1] == '\n') {
            *len = size - i - 2;
            return data + i + 2;
        }
    *len = 0;
    return data + size;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int harness_send(const char *method, const char *path, const uint8_t *data, size_t size,
                 const char *extra)
{
    size_t blen, hlen, i, o = 0, cap;
    const uint8_t *body = harness_body(data, size, &blen);
    char *req, first[64] = "", buf[4096];
    int fd, status = 0, n;
    ssize_t r;
    size_t got = 0;

    hlen = body > data + 1 ? (size_t)(body - data) - 2 : 0;
    cap = 512 + hlen * 2 + (extra != NULL ? strlen(extra) : 0) + blen;
    req = malloc(cap);
    if (req == NULL)
        return 0;
    n = snprintf(req, cap,
                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                 "Content-Length: %zu\r\n%s%s",
                 method, path, blen, extra != NULL ? extra : "", extra != NULL ? "\r\n" : "");
    if (n < 0 || (size_t)n >= cap) {
        free(req);
        return 0;
    }
    o = (size_t)n;
    /* header lines: one per '\n', each kept only when it holds a colon after a name */
    for (i = 0; i < hlen;) {
        size_t s = i, e, k, colon = 0;
        while (i < hlen && data[i] != '\n')
            i++;
        e = i++;
        for (k = s; k < e; k++)
            if (data[k] == ':') {
                colon = k;
                break;
            }
        if (colon <= s)
            continue;
        for (k = s; k < e; k++)
            if (data[k] != '\r' && data[k] != '\0')
                req[o++] = (char)data[k];
        req[o++] = '\r';
        req[o++] = '\n';
    }
    req[o++] = '\r';
    req[o++] = '\n';
    memcpy(req + o, body, blen);
    o += blen;
    fd = dial();
    if (fd < 0) {
        free(req);
        return -1;
    }
    if (send_all(fd, req, o) == 0) {
        /* the answer to its end; its status line from the first bytes */
        while ((r = recv(fd, buf, sizeof(buf), 0)) > 0) {
            size_t take = (size_t)r < sizeof(first) - 1 - got ? (size_t)r : sizeof(first) - 1 - got;
            memcpy(first + got, buf, take);
            got += take;
        }
        first[got] = '\0';
        if (strncmp(first, "HTTP/1.1 ", 9) == 0)
            status = (int)strtol(first + 9, NULL, 10);
    }
    close(fd);
    free(req);
    return status;
}
