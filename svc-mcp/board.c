/* SPDX-License-Identifier: MIT */
/*
 * board.c: GET /board/<project-id>, a live kanban board people can look at. One server-rendered
 * HTML page, a style sheet and a small script, all served here (no framework, no build step, no
 * other origin). The page itself holds no tenant data: the script asks for a token (a URL
 * fragment #token=..., never sent to a server, or a form) or, with sign-in configured, signs in
 * with GitHub as the built-in public client jive-board (PKCE; oauth.c registers it), reads the
 * board with the board_get tool over POST /mcp/invoke and follows GET /events/<project-id>, reading
 * again shortly after each event. So the board sees exactly what its token sees, with the read
 * scopes (stories:read, events:read), rate limit and audit of every other read. The
 * Content-Security- Policy allows scripts, styles and connections from this origin only, no inline
 * script and no inline event handler.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "jc/crypto.h"
#include "mcp.h"

static const char page_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#define PAGE_FMT                                                                                   \
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"                            \
    "<meta name=\"viewport\" content=\"width=device-width\"><title>JIVE board</title>"             \
    "<link rel=\"stylesheet\" href=\"/board/assets/board.css\">"                                   \
    "<link rel=\"icon\" href=\"/board/assets/icon.svg\"></head>\n"                                 \
    "<body data-project=\"%s\">\n"                                                                 \
    "<header><h1 id=\"title\">JIVE board</h1><span id=\"live\" class=\"off\">offline</span>"       \
    "</header>\n"                                                                                  \
    "<form id=\"signin\" hidden><label>Access token <input id=\"token\" type=\"password\" "        \
    "autocomplete=\"off\" required></label> <button type=\"submit\">Open the board</button>"       \
    "<p class=\"hint\">A token with the stories:read and events:read scopes (from your MCP "       \
    "client's sign-in, or <code>jivectl token mint</code>). It stays in this tab.</p>"             \
    "<p id=\"oauth\" hidden><button type=\"button\" id=\"github\">Sign in with GitHub</button>"    \
    "</p></form>\n"                                                                                \
    "<p id=\"message\" role=\"status\"></p>\n"                                                     \
    "<main><section id=\"columns\" aria-label=\"stories by status\"></section>"                    \
    "<aside><h2>Open findings</h2><ul id=\"findings\"></ul></aside></main>\n"                      \
    "<script src=\"/board/assets/board.js\"></script>\n</body></html>\n"

static const char board_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}\n"
    "header{display:flex;align-items:center;gap:1em;padding:.6em 1em;background:#24292f;"
    "color:#fff}\nh1{font-size:1.2em;margin:0}\n"
    "#live{font-size:.8em;padding:.1em .6em;border-radius:1em;background:#57606a}\n"
    "#live.on{background:#1f883d}\n#signin,#message{margin:1em}\n.hint{color:#57606a}\n"
    "main{display:flex;gap:1em;padding:1em;align-items:flex-start}\n"
    "#columns{display:flex;gap:.8em;flex:1;overflow-x:auto}\n"
    ".column{background:#eaeef2;border-radius:6px;min-width:12em;flex:1;padding:.5em}\n"
    ".column h2{font-size:.95em;margin:.2em .2em .6em}\n.count{color:#57606a;font-weight:400}\n"
    ".card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.5em;"
    "margin-bottom:.5em}\n.key{font-weight:600;margin-right:.4em}\n"
    ".meta{display:flex;flex-wrap:wrap;gap:.4em;margin-top:.4em;font-size:.85em}\n"
    ".agent{color:#0969da}\n.tasks{color:#57606a}\n"
    ".gate{border-radius:1em;padding:0 .5em;color:#fff;background:#57606a}\n"
    ".gate.PASS{background:#1f883d}.gate.CONCERNS{background:#9a6700}"
    ".gate.FAIL{background:#cf222e}.gate.WAIVED{background:#8250df}.gate.expired{opacity:.6}\n"
    "aside{width:20em}\naside h2{font-size:1em}\n#findings{list-style:none;padding:0}\n"
    "#findings li{background:#fff;border-left:4px solid #57606a;padding:.4em .6em;"
    "margin-bottom:.4em}\n#findings li.critical,#findings li.high{border-color:#cf222e}\n"
    "#findings li.medium{border-color:#9a6700}\n";

/* in pieces: one string literal may be at most 4095 bytes (C99 5.2.4.1) */
static const char *const board_js[] = {
    "\"use strict\";\n",
    "(() => {\n",
    "  const project = document.body.dataset.project;\n",
    "  const $ = (id) => document.getElementById(id);\n",
    "  const ORDER = [\"Draft\", \"Approved\", \"InProgress\", \"Review\", \"Done\", ",
    "\"Blocked\", \"Other\", \"Missing\"];\n",
    "  const KEY = \"jive-board-token\";\n",
    "  let token = null, timer = null, running = false;\n",
    "  const frag = new URLSearchParams(location.hash.slice(1));\n",
    "  if (frag.get(\"token\")) {\n",
    "    token = frag.get(\"token\");\n",
    "    sessionStorage.setItem(KEY, token);\n",
    "    history.replaceState(null, \"\", location.pathname);\n",
    "  } else {\n",
    "    token = sessionStorage.getItem(KEY);\n",
    "  }\n",
    "  const el = (tag, cls, text) => {\n",
    "    const e = document.createElement(tag);\n",
    "    if (cls) e.className = cls;\n",
    "    if (text !== undefined) e.textContent = text;\n",
    "    return e;\n",
    "  };\n",
    "  const say = (t) => { $(\"message\").textContent = t; };\n",
    "  const live = (on) => { $(\"live\").className = on ? \"on\" : \"off\"; ",
    "$(\"live\").textContent = on ? \"live\" : \"offline\"; };\n",
    "  const wait = (ms) => new Promise((r) => setTimeout(r, ms));\n",
    "  function askToken(why) {\n",
    "    sessionStorage.removeItem(KEY);\n",
    "    token = null;\n",
    "    say(why);\n",
    "    $(\"signin\").hidden = false;\n",
    "  }\n",
    "  function render(b) {\n",
    "    const cols = $(\"columns\"), fl = $(\"findings\");\n",
    "    cols.replaceChildren();\n",
    "    fl.replaceChildren();\n",
    "    if (!b) return;\n",
    "    $(\"title\").textContent = \"JIVE board: \" + b.project.name;\n",
    "    document.title = b.project.name + \" · JIVE board\";\n",
    "    const by = new Map(ORDER.map((s) => [s, []]));\n",
    "    for (const s of b.stories) {\n",
    "      if (!by.has(s.status)) by.set(s.status, []);\n",
    "      by.get(s.status).push(s);\n",
    "    }\n",
    "    for (const [status, list] of by) {\n",
    "      if (!list.length && !ORDER.slice(0, 5).includes(status)) continue;\n",
    "      const col = el(\"div\", \"column\");\n",
    "      col.dataset.status = status;\n",
    "      const h = el(\"h2\", null, status + \" \");\n",
    "      h.append(el(\"span\", \"count\", String(list.length)));\n",
    "      col.append(h);\n",
    "      for (const s of list) {\n",
    "        const card = el(\"div\", \"card\");\n",
    "        card.dataset.key = s.key ?? \"\";\n",
    "        card.append(el(\"span\", \"key\", s.key ?? \"?\"), el(\"span\", \"title\", ",
    "s.title ?? s.path));\n",
    "        const meta = el(\"div\", \"meta\");\n",
    "        for (const a of s.agents) meta.append(el(\"span\", \"agent\", a.name + \" (\" + ",
    "a.state + \")\"));\n",
    "        if (s.tasks_total) meta.append(el(\"span\", \"tasks\", s.tasks_done + \"/\" + ",
    "s.tasks_total + \" tasks\"));\n",
    "        if (s.gate) meta.append(el(\"span\", \"gate \" + s.gate.decision + (s.gate.expired ? ",
    "\" expired\" : \"\"), \"gate \" + s.gate.decision + (s.gate.expired ? \" (expired)\" : ",
    "\"\")));\n",
    "        card.append(meta);\n",
    "        col.append(card);\n",
    "      }\n",
    "      cols.append(col);\n",
    "    }\n",
    "    for (const f of b.findings) fl.append(el(\"li\", f.severity, f.severity + \": \" + ",
    "f.summary));\n",
    "    if (!b.findings.length) fl.append(el(\"li\", null, \"none\"));\n",
    "  }\n",
    "  async function load() {\n",
    "    const r = await fetch(\"/mcp/invoke\", {method: \"POST\", headers: {\"Content-Type\": ",
    "\"application/json\", Authorization: \"Bearer \" + token}, body: JSON.stringify({tool: ",
    "\"board_get\", arguments: {project_id: project}})});\n",
    "    const body = await r.json().catch(() => ({}));\n",
    "    if (r.status === 401) { askToken(\"The token was refused: \" + (body.error?.message ?? ",
    "r.status)); return false; }\n",
    "    if (r.status === 429) { await wait(1000 * Number(r.headers.get(\"Retry-After\") || 2)); ",
    "return load(); }\n",
    "    if (!r.ok) { render(null); say(body.error?.message ?? \"The board cannot be read (\" + ",
    "r.status + \")\"); return false; }\n",
    "    say(\"\");\n",
    "    render(body);\n",
    "    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);\n",
    "    return true;\n",
    "  }\n",
    "  function soon() {\n",
    "    if (!timer) timer = setTimeout(() => { timer = null; load(); }, 400);\n",
    "  }\n",
    "  async function follow() {\n",
    "    let last = null;\n",
    "    while (token) {\n",
    "      try {\n",
    "        const h = {Authorization: \"Bearer \" + token, Accept: \"text/event-stream\"};\n",
    "        if (last) h[\"Last-Event-ID\"] = last;\n",
    "        const r = await fetch(\"/events/\" + project, {headers: h});\n",
    "        if (!r.ok) {\n",
    "          live(false);\n",
    "          if (r.status === 401 || r.status === 403 || r.status === 404) return;\n",
    "          await wait(5000);\n",
    "          continue;\n",
    "        }\n",
    "        live(true);\n",
    "        if (last) soon();\n",
    "        const reader = r.body.getReader(), dec = new TextDecoder();\n",
    "        let buf = \"\";\n",
    "        for (;;) {\n",
    "          const {value, done} = await reader.read();\n",
    "          if (done) break;\n",
    "          buf += dec.decode(value, {stream: true});\n",
    "          let i;\n",
    "          while ((i = buf.indexOf(\"\\n\\n\")) >= 0) {\n",
    "            const rec = buf.slice(0, i);\n",
    "            buf = buf.slice(i + 2);\n",
    "            let data = false;\n",
    "            for (const line of rec.split(\"\\n\")) {\n",
    "              if (line.startsWith(\"id: \")) last = line.slice(4);\n",
    "              if (line.startsWith(\"data: \")) data = true;\n",
    "            }\n",
    "            if (data) soon();\n",
    "          }\n",
    "        }\n",
    "      } catch (e) {\n",
    "        /* the connection dropped: reconnect below */\n",
    "      }\n",
    "      live(false);\n",
    "      await wait(2000);\n",
    "    }\n",
    "  }\n",
    "  async function start() {\n",
    "    if (running || !token) return;\n",
    "    running = true;\n",
    "    $(\"signin\").hidden = true;\n",
    "    if (await load()) follow();\n",
    "    running = false;\n",
    "  }\n",
    "  const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))"
    ".replace(/\\+/g, \"-\").replace(/\\//g, \"_\").replace(/=+$/, \"\");\n",
    "  const random = () => b64url(crypto.getRandomValues(new Uint8Array(32)));\n",
    "  const SIGNIN = \"jive-board-signin\", CLIENT = \"jive-board\";\n",
    "  const back = location.origin + \"/board/signed-in\";\n",
    "  async function offerSignIn() {\n",
    "    const r = await fetch(\"/.well-known/oauth-authorization-server\").catch(() => null);\n",
    "    if (r && r.ok) $(\"oauth\").hidden = false;\n",
    "  }\n",
    "  async function signIn() {\n",
    "    const prm = await (await fetch(\"/.well-known/oauth-protected-resource\")).json();\n",
    "    const verifier = random(), state = random();\n",
    "    const challenge = b64url(await crypto.subtle.digest(\"SHA-256\", "
    "new TextEncoder().encode(verifier)));\n",
    "    sessionStorage.setItem(SIGNIN, JSON.stringify({verifier, state, project, "
    "resource: prm.resource}));\n",
    "    const q = new URLSearchParams({response_type: \"code\", client_id: CLIENT, "
    "redirect_uri: back, code_challenge: challenge, code_challenge_method: \"S256\", state, "
    "scope: \"stories:read events:read\", resource: prm.resource});\n",
    "    location.assign(\"/authorize?\" + q);\n",
    "  }\n",
    "  async function signedIn() {\n",
    "    const q = new URLSearchParams(location.search);\n",
    "    const saved = JSON.parse(sessionStorage.getItem(SIGNIN) || \"null\");\n",
    "    sessionStorage.removeItem(SIGNIN);\n",
    "    history.replaceState(null, \"\", location.pathname);\n",
    "    if (!saved || q.get(\"state\") !== saved.state) { say(\"This sign-in was not started "
    "here; open the board and sign in again.\"); return; }\n",
    "    if (q.get(\"iss\") !== location.origin) { say(\"The answer came from another issuer: "
    "refused.\"); return; }\n",
    "    if (q.get(\"error\")) { say(\"Sign-in refused: \" + (q.get(\"error_description\") || "
    "q.get(\"error\"))); return; }\n",
    "    const r = await fetch(\"/token\", {method: \"POST\", body: new URLSearchParams({"
    "grant_type: \"authorization_code\", code: q.get(\"code\"), redirect_uri: back, "
    "client_id: CLIENT, code_verifier: saved.verifier, resource: saved.resource})});\n",
    "    const t = await r.json();\n",
    "    if (!r.ok) { say(\"Sign-in failed: \" + (t.error_description || t.error)); return; }\n",
    "    sessionStorage.setItem(KEY, t.access_token);\n",
    "    location.replace(\"/board/\" + saved.project);\n",
    "  }\n",
    "  $(\"github\").addEventListener(\"click\", () => { signIn(); });\n",
    "  $(\"signin\").addEventListener(\"submit\", (ev) => {\n",
    "    ev.preventDefault();\n",
    "    token = $(\"token\").value.trim();\n",
    "    sessionStorage.setItem(KEY, token);\n",
    "    start();\n",
    "  });\n",
    "  if (location.pathname === \"/board/signed-in\") signedIn();\n",
    "  else if (token) start();\n",
    "  else { askToken(\"\"); offerSignIn(); }\n",
    "})();\n",
    NULL};

static const char icon_svg[] =
    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\"><rect width=\"16\" "
    "height=\"16\" rx=\"3\" fill=\"#24292f\"/><rect x=\"3\" y=\"3\" width=\"3\" height=\"10\" "
    "fill=\"#fff\"/><rect x=\"7\" y=\"3\" width=\"3\" height=\"6\" fill=\"#fff\"/><rect "
    "x=\"11\" y=\"3\" width=\"2\" height=\"8\" fill=\"#fff\"/></svg>";

static void asset(struct jc_req *req, const char *type, const char *body)
{
    jc_req_add_header(req, "Cache-Control", "public, max-age=300");
    jc_http_reply_raw(req, 200, type, body, strlen(body));
}

static void get_js(struct jc_req *req, void *ud)
{
    struct evbuffer *b = evbuffer_new();
    const char *const *piece;

    (void)ud;
    if (b == NULL) {
        jc_http_reply_error(req, 503, "unavailable", "out of memory");
        return;
    }
    for (piece = board_js; *piece != NULL; piece++)
        evbuffer_add(b, *piece, strlen(*piece));
    jc_req_add_header(req, "Cache-Control", "public, max-age=300");
    jc_http_reply_raw(req, 200, "text/javascript; charset=utf-8",
                      (const char *)evbuffer_pullup(b, -1), evbuffer_get_length(b));
    evbuffer_free(b);
}

static void get_css(struct jc_req *req, void *ud)
{
    (void)ud;
    asset(req, "text/css; charset=utf-8", board_css);
}

static void get_icon(struct jc_req *req, void *ud)
{
    (void)ud;
    asset(req, "image/svg+xml", icon_svg);
}

/* Where sign-in with GitHub comes back to (the built-in client jive-board's redirect URI): the
 * same page, whose script exchanges the code and opens the board it started from. */
static void get_signed_in(struct jc_req *req, void *ud)
{
    char page[sizeof(PAGE_FMT) + 40];

    (void)ud;
    snprintf(page, sizeof(page), PAGE_FMT, "");
    jc_req_add_header(req, "Content-Security-Policy", page_csp);
    jc_http_reply_raw(req, 200, "text/html; charset=utf-8", page, strlen(page));
}

static void get_board(struct jc_req *req, void *ud)
{
    const char *id = req->path + strlen("/board/");
    char page[sizeof(PAGE_FMT) + 40];

    (void)ud;
    if (!jc_crypto_is_uuid(id)) {
        jc_http_reply_error(req, 404, "not_found", "no board here: /board/<project-id>");
        return;
    }
    snprintf(page, sizeof(page), PAGE_FMT, id); /* a UUID: nothing to escape */
    jc_req_add_header(req, "Content-Security-Policy", page_csp);
    jc_http_reply_raw(req, 200, "text/html; charset=utf-8", page, strlen(page));
}

enum jc_err mcp_board_routes(struct mcp *m)
{
    struct jc_http *h = m->app->http;
    enum jc_err rc = JC_OK;

    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/board/assets/board.js", get_js, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/board/assets/board.css", get_css, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/board/assets/icon.svg", get_icon, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/board/signed-in", get_signed_in, m);
    if (rc == JC_OK)
        rc = jc_http_route(h, "GET", "/board/*", get_board, m);
    return rc;
}
