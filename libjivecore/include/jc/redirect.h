/* SPDX-License-Identifier: MIT */
/*
 * jc/redirect.h: OAuth redirect URIs: which may be registered, and whether a requested one is a
 * registered one. Shared by jive-mcp's sign-in and `jivectl oauth client add`.
 */
#ifndef JC_REDIRECT_H
#define JC_REDIRECT_H

#include <stdbool.h>

/*
 * True when uri may be registered as a redirect URI: https with a host, http on a loopback host
 * (127.0.0.1, [::1], localhost: a native app's local listener, RFC 8252 section 7.3), or a
 * native app's private-use scheme (RFC 8252 section 7.1); never a fragment, whitespace, quotes
 * or angle brackets, nor javascript:, data:, file: and the like. Otherwise *why (static) says why.
 */
bool jc_redirect_acceptable(const char *uri, const char **why);

/*
 * True when requested is registered: the same string, or, for a loopback http URI, the same
 * but for the port (RFC 8252 section 7.3: the app picks a free port each time).
 */
bool jc_redirect_matches(const char *registered, const char *requested);

#endif
