/* SPDX-License-Identifier: MIT */
/* proc.c: fork/execve with pipes on the event loop; reap with WNOHANG; kill the group on timeout.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jc/proc.h"

extern char **environ;

#define ERR_KEEP (64 * 1024)

struct buf {
    char *p;
    size_t len, cap, max;
    bool truncated;
};

struct jc_proc {
    struct event_base *base;
    pid_t pid;
    int in_fd, out_fd, err_fd;
    struct event *in_ev, *out_ev, *err_ev, *timer, *reap;
    const char *input;
    size_t input_len, input_off;
    char *input_copy;
    struct buf out, err;
    bool timed_out;
    jc_proc_cb *cb;
    void *ud;
};

static void buf_add(struct buf *b, const char *d, size_t n)
{
    if (b->len + n > b->max) {
        b->truncated = true;
        n = b->max > b->len ? b->max - b->len : 0;
    }
    if (n == 0)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p;
        if (cap > b->max + 1)
            cap = b->max + 1;
        p = realloc(b->p, cap);
        if (p == NULL) {
            b->truncated = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void close_ev(struct event **ev, int *fd)
{
    if (*ev != NULL) {
        event_free(*ev);
        *ev = NULL;
    }
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void finish(struct jc_proc *p, int status)
{
    struct jc_proc_result r = {0};

    if (WIFEXITED(status))
        r.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        r.exit_code = 128 + WTERMSIG(status);
    r.timed_out = p->timed_out;
    r.out = p->out.p != NULL ? p->out.p : "";
    r.out_len = p->out.len;
    r.err = p->err.p != NULL ? p->err.p : "";
    r.err_len = p->err.len;
    r.truncated = p->out.truncated;
    p->cb(&r, p->ud);
    close_ev(&p->in_ev, &p->in_fd);
    close_ev(&p->out_ev, &p->out_fd);
    close_ev(&p->err_ev, &p->err_fd);
    if (p->timer != NULL)
        event_free(p->timer);
    if (p->reap != NULL)
        event_free(p->reap);
    free(p->out.p);
    free(p->err.p);
    free(p->input_copy);
    free(p);
}

/* Polls for the exit once both output pipes are closed (10 ms steps, never blocking). */
static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    struct jc_proc *p = arg;
    struct timeval tv = {0, 10000};
    int status = 0;
    pid_t r;

    (void)fd;
    (void)what;
    r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid || (r < 0 && errno == ECHILD)) {
        finish(p, r == p->pid ? status : 0);
        return;
    }
    evtimer_add(p->reap, &tv);
}

static void maybe_reap(struct jc_proc *p)
{
    if (p->out_fd < 0 && p->err_fd < 0)
        reap_cb(-1, 0, p);
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct jc_proc *p = arg;
    char chunk[65536];
    ssize_t n;
    bool is_out = fd == p->out_fd;

    (void)what;
    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n > 0) {
            buf_add(is_out ? &p->out : &p->err, chunk, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EINTR)
            continue;
        break; /* EOF or error */
    }
    if (is_out)
        close_ev(&p->out_ev, &p->out_fd);
    else
        close_ev(&p->err_ev, &p->err_fd);
    maybe_reap(p);
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct jc_proc *p = arg;
    ssize_t n;

    (void)what;
    while (p->input_off < p->input_len) {
        n = write(fd, p->input + p->input_off, p->input_len - p->input_off);
        if (n > 0) {
            p->input_off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* the event stays armed */
        if (n < 0 && errno == EINTR)
            continue;
        break; /* EPIPE: the child does not read its stdin */
    }
    close_ev(&p->in_ev, &p->in_fd);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct jc_proc *p = arg;

    (void)fd;
    (void)what;
    p->timed_out = true;
    kill(-p->pid, SIGKILL); /* the whole group: git and its helpers */
    kill(p->pid, SIGKILL);
}

/* argv[0] resolved on PATH (in the parent: nothing but execve runs in the child). */
static char *resolve(const char *name)
{
    const char *path = getenv("PATH");
    char cand[4096];
    const char *s, *e;

    if (strchr(name, '/') != NULL)
        return strdup(name);
    for (s = path != NULL ? path : "/usr/bin:/bin"; *s != '\0'; s = *e == ':' ? e + 1 : e) {
        e = strchr(s, ':');
        if (e == NULL)
            e = s + strlen(s);
        if (snprintf(cand, sizeof(cand), "%.*s/%s", (int)(e - s), s, name) < (int)sizeof(cand) &&
            access(cand, X_OK) == 0)
            return strdup(cand);
        if (*e == '\0')
            break;
    }
    return NULL;
}

static int nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

enum jc_err jc_proc_run(struct event_base *base, const struct jc_proc_opts *o, jc_proc_cb *cb,
                        void *ud)
{
    struct jc_proc *p = NULL;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    char *exe = NULL;
    char **envp = NULL;
    size_t n_env = 0, n_extra = 0, i;
    enum jc_err rc = JC_ENOMEM;

    if (o->argv == NULL || o->argv[0] == NULL || cb == NULL)
        return JC_EINVAL;
    exe = resolve(o->argv[0]);
    if (exe == NULL)
        return JC_EINVAL;
    /* the environment for execve, built before fork */
    while (environ[n_env] != NULL)
        n_env++;
    while (o->env != NULL && o->env[n_extra] != NULL)
        n_extra++;
    envp = calloc(n_env + n_extra + 1, sizeof(char *));
    p = calloc(1, sizeof(*p));
    if (envp == NULL || p == NULL)
        goto fail;
    for (i = 0; i < n_extra; i++)
        envp[i] = (char *)o->env[i];
    for (i = 0; i < n_env; i++)
        envp[n_extra + i] = environ[i]; /* an extra NAME= earlier in the list wins */
    p->base = base;
    p->cb = cb;
    p->ud = ud;
    p->in_fd = p->out_fd = p->err_fd = -1;
    p->out.max = o->max_output > 0 ? o->max_output : 16u << 20;
    p->err.max = ERR_KEEP;
    if (o->input_len > 0) {
        p->input_copy = malloc(o->input_len);
        if (p->input_copy == NULL)
            goto fail;
        memcpy(p->input_copy, o->input, o->input_len);
        p->input = p->input_copy;
        p->input_len = o->input_len;
    }
    rc = JC_EIO;
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
        goto fail;
    p->pid = fork();
    if (p->pid < 0)
        goto fail;
    if (p->pid == 0) {
        /* child: async-signal-safe calls only */
        setpgid(0, 0);
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        if (o->cwd != NULL && chdir(o->cwd) != 0)
            _exit(126);
        signal(SIGPIPE, SIG_DFL);
        execve(exe, (char *const *)o->argv, envp);
        _exit(127);
    }
    setpgid(p->pid, p->pid); /* also from the parent, so a timeout can never miss the group */
    close(in[0]);
    close(out[1]);
    close(err[1]);
    p->in_fd = in[1];
    p->out_fd = out[0];
    p->err_fd = err[0];
    in[1] = out[0] = err[0] = -1;
    free(exe);
    free(envp);
    exe = NULL;
    envp = NULL;
    nonblock(p->in_fd);
    nonblock(p->out_fd);
    nonblock(p->err_fd);
    p->out_ev = event_new(base, p->out_fd, EV_READ | EV_PERSIST, read_cb, p);
    p->err_ev = event_new(base, p->err_fd, EV_READ | EV_PERSIST, read_cb, p);
    p->reap = evtimer_new(base, reap_cb, p);
    p->timer = evtimer_new(base, timeout_cb, p);
    if (p->out_ev == NULL || p->err_ev == NULL || p->reap == NULL || p->timer == NULL) {
        kill(-p->pid, SIGKILL);
        goto started_fail;
    }
    event_add(p->out_ev, NULL);
    event_add(p->err_ev, NULL);
    if (p->input_len > 0) {
        p->in_ev = event_new(base, p->in_fd, EV_WRITE | EV_PERSIST, write_cb, p);
        if (p->in_ev == NULL) {
            kill(-p->pid, SIGKILL);
            goto started_fail;
        }
        event_add(p->in_ev, NULL);
    } else {
        close(p->in_fd);
        p->in_fd = -1;
    }
    if (o->timeout_ms > 0) {
        struct timeval tv = {o->timeout_ms / 1000, (o->timeout_ms % 1000) * 1000};
        evtimer_add(p->timer, &tv);
    }
    return JC_OK;
started_fail:
    /* the child is killed; let the normal path reap it and report a failure */
    p->timed_out = true;
    close_ev(&p->in_ev, &p->in_fd);
    close_ev(&p->out_ev, &p->out_fd);
    close_ev(&p->err_ev, &p->err_fd);
    if (p->reap == NULL) {
        waitpid(p->pid, NULL, 0); /* only on allocation failure: the child is already dead */
        free(p);
        return JC_ENOMEM;
    }
    reap_cb(-1, 0, p);
    return JC_OK;
fail:
    for (i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
        if (err[i] >= 0)
            close(err[i]);
    }
    free(exe);
    free(envp);
    if (p != NULL)
        free(p->input_copy);
    free(p);
    return rc;
}
