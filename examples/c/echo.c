/*
 * echo.c: a TCP echo server on the C API.
 *
 *     ./echo [-addr 127.0.0.1:9000] [-backend auto|io_uring|epoll]
 *
 * Prints "listening on ADDR server=c backend=B" once it accepts (the line
 * `ioloop echo` prints, so the same tooling can drive either), then serves
 * until killed. Each connection is one malloc'd struct that embeds its
 * completions and its buffer: no allocation per message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioloop.h"

typedef struct conn {
	int fd;
	ioloop_completion recv, send, close;
	char buf[4096];
} conn;

static void on_recv(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata);

static void on_close(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	(void)loop;
	(void)c;
	(void)result;
	free(userdata);
}

static void finish(ioloop_loop *loop, conn *cn) { ioloop_close(loop, &cn->close, cn->fd, on_close, cn); }

static void on_send(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	(void)c;
	conn *cn = userdata;
	if (result < 0) {
		finish(loop, cn);
		return;
	}
	ioloop_recv(loop, &cn->recv, cn->fd, cn->buf, sizeof cn->buf, on_recv, cn);
}

static void on_recv(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	(void)c;
	conn *cn = userdata;
	if (result <= 0) { /* 0: the peer closed */
		finish(loop, cn);
		return;
	}
	ioloop_send(loop, &cn->send, cn->fd, cn->buf, (size_t)result, on_send, cn);
}

typedef struct server {
	int fd;
	ioloop_completion accept;
} server;

static void on_accept(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	server *srv = userdata;
	if (result >= 0) {
		conn *cn = calloc(1, sizeof *cn);
		cn->fd = result;
		ioloop_recv(loop, &cn->recv, cn->fd, cn->buf, sizeof cn->buf, on_recv, cn);
	} else if (result != -EMFILE && result != -ENFILE && result != -ECONNABORTED) {
		fprintf(stderr, "echo: accept: %s\n", ioloop_strerror(result));
		exit(1);
	}
	ioloop_accept(loop, c, srv->fd, on_accept, srv);
}

int main(int argc, char **argv)
{
	const char *addr_text = "127.0.0.1:9000";
	int backend = IOLOOP_BACKEND_AUTO;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-addr") == 0)
			addr_text = argv[i + 1];
		else if (strcmp(argv[i], "-backend") == 0)
			backend = strcmp(argv[i + 1], "epoll") == 0 ? IOLOOP_BACKEND_EPOLL
				  : strcmp(argv[i + 1], "io_uring") == 0 ? IOLOOP_BACKEND_IO_URING
									: IOLOOP_BACKEND_AUTO;
		else {
			fprintf(stderr, "usage: echo [-addr IP:port] [-backend auto|io_uring|epoll]\n");
			return 2;
		}
	}
	struct sockaddr_storage addr, bound;
	socklen_t addrlen, boundlen;
	if (ioloop_sockaddr_parse(addr_text, &addr, &addrlen) != 0) {
		fprintf(stderr, "echo: bad address %s\n", addr_text);
		return 2;
	}
	ioloop_options opts = {0};
	opts.backend = (uint32_t)backend;
	ioloop_loop *loop;
	int rc = ioloop_loop_new(&loop, &opts);
	if (rc != 0) {
		char msg[256];
		ioloop_last_error(NULL, msg, sizeof msg);
		fprintf(stderr, "echo: %s: %s\n", ioloop_strerror(rc), msg);
		return 1;
	}
	char reason[256];
	if (ioloop_loop_fallback_reason(loop, reason, sizeof reason) > 0)
		fprintf(stderr, "# not on io_uring: %s\n", reason);
	server srv = {0};
	srv.fd = ioloop_listen_tcp((struct sockaddr *)&addr, addrlen, 0, IOLOOP_LISTEN_NODELAY, &bound, &boundlen);
	if (srv.fd < 0) {
		fprintf(stderr, "echo: listen %s: %s\n", addr_text, ioloop_strerror(srv.fd));
		return 1;
	}
	ioloop_accept(loop, &srv.accept, srv.fd, on_accept, &srv);
	char text[64];
	ioloop_sockaddr_format((struct sockaddr *)&bound, boundlen, text, sizeof text);
	printf("listening on %s server=c backend=%s\n", text, ioloop_backend_name(ioloop_loop_backend(loop)));
	fflush(stdout);
	rc = ioloop_run_for(loop, INT64_MAX);
	fprintf(stderr, "echo: %s\n", ioloop_strerror(rc));
	return 1;
}
