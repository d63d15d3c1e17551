/* SPDX-License-Identifier: MIT */
/* redirect.c: redirect URIs parsed with libevent's URI parser and compared part by part. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>

#include "jc/redirect.h"

static bool loopback_host(const char *h)
{
    return h != NULL && (strcmp(h, "127.0.0.1") == 0 || strcmp(h, "localhost") == 0 ||
                         strcmp(h, "[::1]") == 0 || strcmp(h, "::1") == 0);
}

bool jc_redirect_acceptable(const char *uri, const char **why)
{
    static const char *const refused[] = {"javascript", "data", "file", "vbscript", "about",
                                          "blob",       "ftp",  "ws",   "wss",      NULL};
    struct evhttp_uri *u;
    const char *scheme;
    const char *const *r;
    bool ok = false;

    *why = "not an absolute URI";
    if (uri == NULL || strlen(uri) > 2000 || strpbrk(uri, " \t\r\n<>\"'\\") != NULL)
        return false;
    u = evhttp_uri_parse_with_flags(uri, 0);
    scheme = u != NULL ? evhttp_uri_get_scheme(u) : NULL;
    if (scheme == NULL) {
        *why = "not an absolute URI";
    } else if (evhttp_uri_get_fragment(u) != NULL) {
        *why = "a redirect URI must not have a fragment";
    } else if (strcasecmp(scheme, "https") == 0) {
        ok = evhttp_uri_get_host(u) != NULL && evhttp_uri_get_host(u)[0] != '\0';
        *why = "an https redirect URI needs a host";
    } else if (strcasecmp(scheme, "http") == 0) {
        ok = loopback_host(evhttp_uri_get_host(u));
        *why = "http is allowed only on a loopback host (127.0.0.1, [::1], localhost)";
    } else {
        ok = true; /* a native app's private-use scheme (RFC 8252 section 7.1) */
        for (r = refused; *r != NULL; r++) {
            if (strcasecmp(scheme, *r) == 0) {
                *why = "this scheme cannot be a redirect URI";
                ok = false;
            }
        }
    }
    if (u != NULL)
        evhttp_uri_free(u);
    return ok;
}

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool jc_redirect_matches(const char *registered, const char *requested)
{
    struct evhttp_uri *ua, *ub;
    bool match;

    if (registered == NULL || requested == NULL)
        return false;
    if (strcmp(registered, requested) == 0)
        return true;
    ua = evhttp_uri_parse_with_flags(registered, 0);
    ub = evhttp_uri_parse_with_flags(requested, 0);
    match = ua != NULL && ub != NULL && same(evhttp_uri_get_scheme(ua), "http") &&
            same(evhttp_uri_get_scheme(ub), "http") && loopback_host(evhttp_uri_get_host(ua)) &&
            same(evhttp_uri_get_host(ua), evhttp_uri_get_host(ub)) &&
            same(evhttp_uri_get_path(ua), evhttp_uri_get_path(ub)) &&
            same(evhttp_uri_get_query(ua), evhttp_uri_get_query(ub)) &&
            same(evhttp_uri_get_userinfo(ua), evhttp_uri_get_userinfo(ub)) &&
            evhttp_uri_get_fragment(ub) == NULL;
    if (ua != NULL)
        evhttp_uri_free(ua);
    if (ub != NULL)
        evhttp_uri_free(ub);
    return match;
}
