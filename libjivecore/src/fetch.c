/* SPDX-License-Identifier: MIT */
/*
 * fetch.c: libcurl's multi interface on a libevent loop. curl tells us which sockets to watch
 * (socket callback) and when to wake it (timer callback); each becomes a libevent event whose
 * callback hands control back to curl_multi_socket_action, after which finished transfers are
 * collected and their callbacks run. Nothing here waits: connects, TLS and transfers are
 * non-blocking in curl, and names resolve in curl's resolver thread.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "jc/fetch.h"

struct sock {
    struct jc_fetch *f;
    struct event *ev;
    curl_socket_t fd;
    struct sock *prev, *next;
};

struct op {
    struct jc_fetch *f;
    CURL *easy;
    struct curl_slist *headers;
    jc_fetch_cb *cb;
    void *ud;
    char *buf;
    size_t len, cap, max;
    bool too_big;
    bool public_only;
    bool refused_addr;
    char errbuf[CURL_ERROR_SIZE];
    struct op *prev, *next;
};

struct jc_fetch {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    STACK_OF(X509_INFO) * extra_cas; /* the extra CA bundle, parsed once */
    struct op *ops;
    struct sock *socks;
};

/* ---- addresses ---- */

static bool v4_public(uint32_t a)
{
    uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16);

    if (b0 == 0 || b0 == 10 || b0 == 127 || b0 >= 224) /* this net, private, loopback, mc+res */
        return false;
    if (b0 == 100 && (b1 & 0xc0) == 64) /* 100.64.0.0/10 shared address space */
        return false;
    if (b0 == 169 && b1 == 254) /* link-local, cloud metadata */
        return false;
    if (b0 == 172 && (b1 & 0xf0) == 16)
        return false;
    if (b0 == 192 && b1 == 168)
        return false;
    if (b0 == 192 && b1 == 0 && (uint8_t)(a >> 8) == 0) /* 192.0.0.0/24 IETF protocol */
        return false;
    if (b0 == 198 && (b1 & 0xfe) == 18) /* 198.18.0.0/15 benchmarking */
        return false;
    return true;
}

bool jc_fetch_addr_public(const struct sockaddr *addr)
{
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)addr;
        return v4_public(ntohl(in->sin_addr.s_addr));
    }
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)addr;
        const uint8_t *b = in6->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
        uint32_t v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];

        if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
            return v4_public(v4);
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) || IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return false;
        if ((b[0] & 0xfe) == 0xfc) /* fc00::/7 unique local */
            return false;
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10 link-local */
            return false;
        if (b[0] == 0xff) /* multicast */
            return false;
        if (memcmp(b, mapped, 10) == 0) /* ::/80 other than mapped: IPv4-compatible, reserved */
            return false;
        return (b[0] & 0xe0) == 0x20; /* only 2000::/3 is global unicast */
    }
    return false;
}

/* ---- curl's sockets and timer as libevent events ---- */

static void collect(struct jc_fetch *f);

static void on_sock(evutil_socket_t fd, short what, void *arg)
{
    struct sock *s = arg;
    struct jc_fetch *f = s->f; /* s may be freed inside socket_action */
    int running = 0;
    int flags =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);

    curl_multi_socket_action(f->multi, fd, flags, &running);
    collect(f); /* curl's timer callback says when the timer is no longer needed */
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct jc_fetch *f = arg;
    int running = 0;

    (void)fd;
    (void)what;
    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect(f);
}

static void sock_free(struct sock *s)
{
    struct jc_fetch *f = s->f;

    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        f->socks = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    if (s->ev != NULL)
        event_free(s->ev);
    free(s);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct jc_fetch *f = userp;
    struct sock *s = socketp;
    short kind = EV_PERSIST;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL)
            sock_free(s);
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return -1;
        s->f = f;
        s->fd = fd;
        s->next = f->socks;
        if (f->socks != NULL)
            f->socks->prev = s;
        f->socks = s;
        curl_multi_assign(f->multi, fd, s);
    } else if (s->ev != NULL) {
        event_free(s->ev);
        s->ev = NULL;
    }
    if (what & CURL_POLL_IN)
        kind |= EV_READ;
    if (what & CURL_POLL_OUT)
        kind |= EV_WRITE;
    s->ev = event_new(f->base, fd, kind, on_sock, s);
    if (s->ev == NULL || event_add(s->ev, NULL) != 0)
        return -1;
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct jc_fetch *f = userp;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};

    (void)multi;
    if (timeout_ms < 0)
        return evtimer_del(f->timer) == 0 ? 0 : -1;
    return evtimer_add(f->timer, &tv) == 0 ? 0 : -1; /* zero: on the loop's next turn */
}

/* ---- one transfer ---- */

static size_t on_data(char *data, size_t size, size_t n, void *ud)
{
    struct op *op = ud;
    size_t add = size * n;

    if (op->len + add > op->max) {
        op->too_big = true;
        return 0;
    }
    if (op->len + add + 1 > op->cap) {
        size_t cap = op->cap == 0 ? 4096 : op->cap;
        char *p;
        while (cap < op->len + add + 1)
            cap *= 2;
        if ((p = realloc(op->buf, cap)) == NULL)
            return 0;
        op->buf = p;
        op->cap = cap;
    }
    memcpy(op->buf + op->len, data, add);
    op->len += add;
    op->buf[op->len] = '\0';
    return add;
}

static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct op *op = ud;

    (void)purpose;
    if (op->public_only && !jc_fetch_addr_public(&a->addr)) {
        op->refused_addr = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Adds the extra CAs to the store of each TLS context curl makes (after its default bundle). */
static CURLcode ssl_ctx_cb(CURL *easy, void *ctx, void *ud)
{
    struct jc_fetch *f = ud;
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    int i;

    (void)easy;
    for (i = 0; f->extra_cas != NULL && i < sk_X509_INFO_num(f->extra_cas); i++) {
        X509_INFO *xi = sk_X509_INFO_value(f->extra_cas, i);
        if (xi->x509 != NULL)
            X509_STORE_add_cert(store, xi->x509); /* a duplicate is harmless */
    }
    return CURLE_OK;
}

/* Takes op out of curl and frees it (op is already off the list). */
static void op_release(struct op *op)
{
    curl_multi_remove_handle(op->f->multi, op->easy);
    curl_easy_cleanup(op->easy);
    curl_slist_free_all(op->headers);
    free(op->buf);
    free(op);
}

static void op_unlink_free(struct op *op)
{
    struct jc_fetch *f = op->f;

    if (op->prev != NULL)
        op->prev->next = op->next;
    else
        f->ops = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    op_release(op);
}

static void finish(struct op *op, CURLcode res)
{
    enum jc_err err = JC_OK;
    long status = 0;
    char msg[CURL_ERROR_SIZE + 64];

    msg[0] = '\0';
    if (op->refused_addr) {
        err = JC_EINVAL;
        snprintf(msg, sizeof(msg), "the host resolves to a private or reserved address");
    } else if (op->too_big || res == CURLE_FILESIZE_EXCEEDED) {
        err = JC_EINVAL;
        snprintf(msg, sizeof(msg), "the response is larger than %zu bytes", op->max);
    } else if (res == CURLE_OPERATION_TIMEDOUT) {
        err = JC_ETIMEOUT;
        snprintf(msg, sizeof(msg), "no complete response in time");
    } else if (res == CURLE_UNSUPPORTED_PROTOCOL) {
        err = JC_EINVAL;
        snprintf(msg, sizeof(msg), "the URL's scheme is not allowed");
    } else if (res == CURLE_URL_MALFORMAT) {
        err = JC_EINVAL;
        snprintf(msg, sizeof(msg), "malformed URL");
    } else if (res == CURLE_PEER_FAILED_VERIFICATION || res == CURLE_SSL_CONNECT_ERROR) {
        err = JC_EIO;
        snprintf(msg, sizeof(msg), "TLS failed, the server's certificate is not trusted here (%s)",
                 op->errbuf[0] != '\0' ? op->errbuf : curl_easy_strerror(res));
    } else if (res != CURLE_OK) {
        err = JC_EIO;
        snprintf(msg, sizeof(msg), "%s",
                 op->errbuf[0] != '\0' ? op->errbuf : curl_easy_strerror(res));
    } else {
        curl_easy_getinfo(op->easy, CURLINFO_RESPONSE_CODE, &status);
    }
    /* the transfer leaves curl before the callback, which may start another */
    {
        jc_fetch_cb *cb = op->cb;
        void *ud = op->ud;
        char *buf = op->buf;
        size_t len = op->len;
        op->buf = NULL;
        op_unlink_free(op);
        cb(err, status, err == JC_OK ? (buf != NULL ? buf : "") : NULL, err == JC_OK ? len : 0, msg,
           ud);
        free(buf);
    }
}

static void collect(struct jc_fetch *f)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(f->multi, &left)) != NULL) {
        struct op *op = NULL;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&op);
        if (op != NULL)
            finish(op, m->data.result);
    }
}

struct jc_fetch *jc_fetch_new(struct event_base *base, const char *ca_file, char *err,
                              size_t errlen)
{
    static bool global_done;
    struct jc_fetch *f;

    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, errlen, "libcurl: cannot initialise");
            return NULL;
        }
        global_done = true;
    }
    if (!(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_ASYNCHDNS)) {
        snprintf(err, errlen, "libcurl resolves names synchronously (it would block the loop)");
        return NULL;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->base = base;
    if (ca_file != NULL && ca_file[0] != '\0') {
        BIO *bio = BIO_new_file(ca_file, "r");
        f->extra_cas = bio != NULL ? PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        if (f->extra_cas == NULL || sk_X509_INFO_num(f->extra_cas) == 0) {
            snprintf(err, errlen, "JIVE_CA_FILE: cannot read PEM certificates from %s", ca_file);
            goto fail;
        }
    }
    f->multi = curl_multi_init();
    f->timer = evtimer_new(base, on_timer, f);
    if (f->multi == NULL || f->timer == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    return f;
fail:
    jc_fetch_free(f);
    return NULL;
}

void jc_fetch_free(struct jc_fetch *f)
{
    if (f == NULL)
        return;
    while (f->ops != NULL) {
        struct op *op = f->ops;
        f->ops = op->next;
        if (f->ops != NULL)
            f->ops->prev = NULL;
        op->cb(JC_ECLOSED, 0, NULL, 0, "shutting down", op->ud);
        op_release(op);
    }
    if (f->multi != NULL)
        curl_multi_cleanup(f->multi);
    while (f->socks != NULL) {
        struct sock *s = f->socks;
        f->socks = s->next;
        if (s->ev != NULL)
            event_free(s->ev);
        free(s);
    }
    if (f->timer != NULL)
        event_free(f->timer);
    if (f->extra_cas != NULL)
        sk_X509_INFO_pop_free(f->extra_cas, X509_INFO_free);
    free(f);
}

enum jc_err jc_fetch_start(struct jc_fetch *f, const struct jc_fetch_req *r, jc_fetch_cb *cb,
                           void *ud)
{
    struct op *op;
    const char *const *h;
    bool post = strcmp(r->method, "POST") == 0;

    if (!post && strcmp(r->method, "GET") != 0)
        return JC_EINVAL;
    op = calloc(1, sizeof(*op));
    if (op == NULL || (op->easy = curl_easy_init()) == NULL)
        goto fail;
    op->f = f;
    op->cb = cb;
    op->ud = ud;
    op->max = r->max_bytes;
    op->public_only = r->public_only;
    for (h = r->headers; h != NULL && *h != NULL; h++) {
        struct curl_slist *l = curl_slist_append(op->headers, *h);
        if (l == NULL)
            goto fail;
        op->headers = l;
    }
    curl_easy_setopt(op->easy, CURLOPT_PRIVATE, (char *)op);
    curl_easy_setopt(op->easy, CURLOPT_URL, r->url);
    curl_easy_setopt(op->easy, CURLOPT_PROTOCOLS_STR, r->https_only ? "https" : "http,https");
    curl_easy_setopt(op->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(op->easy, CURLOPT_PROXY, ""); /* never the environment's proxy */
    curl_easy_setopt(op->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(op->easy, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(op->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_bytes);
    curl_easy_setopt(op->easy, CURLOPT_USERAGENT, "jive/" JC_VERSION);
    curl_easy_setopt(op->easy, CURLOPT_HTTPHEADER, op->headers);
    curl_easy_setopt(op->easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(op->easy, CURLOPT_WRITEDATA, op);
    curl_easy_setopt(op->easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(op->easy, CURLOPT_OPENSOCKETDATA, op);
    curl_easy_setopt(op->easy, CURLOPT_ERRORBUFFER, op->errbuf);
    curl_easy_setopt(op->easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(op->easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (f->extra_cas != NULL) {
        curl_easy_setopt(op->easy, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
        curl_easy_setopt(op->easy, CURLOPT_SSL_CTX_DATA, f);
    }
    if (post) {
        curl_easy_setopt(op->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(op->easy, CURLOPT_COPYPOSTFIELDS, r->body != NULL ? r->body : "");
    }
    op->next = f->ops;
    if (f->ops != NULL)
        f->ops->prev = op;
    f->ops = op;
    if (curl_multi_add_handle(f->multi, op->easy) != CURLM_OK) {
        op_unlink_free(op);
        return JC_ENOMEM;
    }
    return JC_OK;
fail:
    if (op != NULL) {
        if (op->easy != NULL)
            curl_easy_cleanup(op->easy);
        curl_slist_free_all(op->headers);
        free(op);
    }
    return JC_ENOMEM;
}
