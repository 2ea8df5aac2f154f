/*
 * cat.c: copies files to standard output, reading each with 16 reads in
 * flight (queue depth 16) on the C API, and writing the chunks in order.
 *
 *     ./cat [-bs 65536] FILE...
 *
 * Sixteen read slots walk the file: each holds a chunk's offset and
 * buffer; a chunk that arrives before its predecessors waits in its slot
 * until it is next to be written, then the slot reads the next chunk not
 * yet claimed. The output is written with plain write(2): it is the
 * reads that this example shows.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ioloop.h"

enum { QD = 16 };

typedef struct file_reader file_reader;

typedef struct slot {
	ioloop_completion c;
	file_reader *r;
	int64_t offset;
	int32_t length; /* bytes read, -1 while the read is in flight */
	char *buf;
} slot;

struct file_reader {
	ioloop_loop *loop;
	int fd;
	size_t bs;
	int64_t next_offset;  /* the next chunk no slot has claimed */
	int64_t write_offset; /* the next chunk to write */
	int eof;
	int in_flight;
	int error;
	slot slots[QD];
};

static void on_read(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata);

static void claim(file_reader *r, slot *s)
{
	s->offset = r->next_offset;
	r->next_offset += (int64_t)r->bs;
	s->length = -1;
	r->in_flight++;
	ioloop_read(r->loop, &s->c, r->fd, s->buf, r->bs, s->offset, on_read, s);
}

/* drain writes every chunk that is next in order, and puts its slot back
 * to work. */
static void drain(file_reader *r)
{
	for (int progress = 1; progress;) {
		progress = 0;
		for (int i = 0; i < QD; i++) {
			slot *s = &r->slots[i];
			if (s->length < 0 || s->offset != r->write_offset)
				continue;
			for (int32_t done = 0; done < s->length;) {
				ssize_t n = write(STDOUT_FILENO, s->buf + done, (size_t)(s->length - done));
				if (n < 0) {
					perror("cat: write");
					exit(1);
				}
				done += (int32_t)n;
			}
			r->write_offset += s->length;
			if (s->length < (int32_t)r->bs)
				r->eof = 1; /* a short read: the end of the file */
			s->length = -1;
			s->offset = -1;
			if (!r->eof)
				claim(r, s);
			progress = 1;
		}
	}
}

static void on_read(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	(void)loop;
	(void)c;
	slot *s = userdata;
	file_reader *r = s->r;
	r->in_flight--;
	if (result < 0) {
		r->error = result;
		s->offset = -1;
		return;
	}
	s->length = result;
	drain(r);
}

int main(int argc, char **argv)
{
	size_t bs = 65536;
	int first = 1;
	if (argc > 2 && strcmp(argv[1], "-bs") == 0) {
		bs = (size_t)atol(argv[2]);
		first = 3;
	}
	if (first >= argc || bs == 0) {
		fprintf(stderr, "usage: cat [-bs BYTES] FILE...\n");
		return 2;
	}
	ioloop_loop *loop;
	int rc = ioloop_loop_new(&loop, NULL);
	if (rc != 0) {
		fprintf(stderr, "cat: %s\n", ioloop_strerror(rc));
		return 1;
	}
	file_reader *r = calloc(1, sizeof *r);
	for (int i = 0; i < QD; i++)
		r->slots[i].buf = malloc(bs);
	int status = 0;
	for (int a = first; a < argc; a++) {
		int fd = open(argv[a], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror(argv[a]);
			status = 1;
			continue;
		}
		r->loop = loop;
		r->fd = fd;
		r->bs = bs;
		r->next_offset = r->write_offset = 0;
		r->eof = r->error = r->in_flight = 0;
		for (int i = 0; i < QD; i++) {
			r->slots[i].r = r;
			claim(r, &r->slots[i]);
		}
		rc = ioloop_run(loop); /* until every read is back */
		if (rc != 0 || r->error != 0) {
			fprintf(stderr, "cat: %s: %s\n", argv[a], ioloop_strerror(rc != 0 ? rc : r->error));
			status = 1;
		}
		close(fd);
	}
	ioloop_loop_close(loop);
	for (int i = 0; i < QD; i++)
		free(r->slots[i].buf);
	free(r);
	return status;
}
