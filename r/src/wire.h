/*
 * The parts of the server's wire handling that need nothing from R: plain C over a byte range,
 * so the fuzzer (fuzz/) compiles them with libFuzzer, ASan and UBSan outside R, and http.c
 * wraps them. Nothing here allocates, calls R, or formats a client byte into a message: every
 * message is a string literal.
 */
#ifndef RMLOPS_WIRE_H
#define RMLOPS_WIRE_H

#include <stddef.h>

/* The deepest JSON nesting rm_json_check() can be asked to allow. */
#define RM_JSON_MAX_DEPTH 64

/*
 * Is s[0..n) one JSON text under RFC 8259, and no deeper than max_depth (1..RM_JSON_MAX_DEPTH)
 * arrays and objects? Stricter than the RFC where jsonlite (yajl) would read a valid text
 * wrongly: strings must be valid UTF-8 (RFC 3629: no overlong forms, no surrogates), and a
 * \u escape may not be \u0000 (jsonlite cuts the string there) nor an unpaired surrogate
 * (jsonlite makes invalid UTF-8 of it). No byte-order mark. 1 when valid; else 0, with the
 * 0-based offset of the first offending byte in *at and a literal explanation in *what.
 */
int rm_json_check(const unsigned char *s, size_t n, int max_depth, size_t *at, const char **what);

#define RM_MAX_HEADERS 64

/* Offsets into the head of a request that rm_head_scan() accepted. */
typedef struct {
  int method0, method1;   /* the method token */
  int target0, target1;   /* the origin-form target, query included */
  int query_at;           /* offset of '?' in the target, or target1 when there is none */
  int minor;              /* HTTP/1.<minor> */
  int n_headers;
  int key0[RM_MAX_HEADERS], key1[RM_MAX_HEADERS];
  int val0[RM_MAX_HEADERS], val1[RM_MAX_HEADERS]; /* value, optional whitespace trimmed */
  int content_length;     /* index of the Content-Length header, -1 when none */
  int transfer_encodings; /* how many Transfer-Encoding headers */
} rm_head_t;

/*
 * The first `len` bytes of `s` are a request head without its final CRLFCRLF. 1 when it is the
 * plain kind http.c's fast path takes (request line `<token> /<target> HTTP/1.x`, at most
 * RM_MAX_HEADERS header lines `<token>:<value>` of printable ASCII and tab, exactly one valid
 * Host in HTTP/1.1 and none in 1.0, at most one Content-Length, without a comma), filling *h;
 * 0 for anything else, which the R code then reads and explains.
 */
int rm_head_scan(const unsigned char *s, int len, rm_head_t *h);

#endif
