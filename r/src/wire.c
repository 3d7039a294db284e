/*
 * Pure functions over client bytes (see wire.h): the JSON validator every client body passes
 * before jsonlite sees it, and the request-head scanner of http.c's fast path.
 *
 * Why a validator in front of jsonlite: Debian's jsonlite 1.8.4 passes yajl's parse-error
 * message, which quotes the input around the error, to Rf_error() as a format string. A
 * malformed body holding printf directives ("x%s%s%s", "%n") then crashes or aborts R. Only
 * texts this validator accepts reach jsonlite, and yajl accepts every one of them (it is
 * stricter than yajl everywhere they differ), so jsonlite's error path is never taken on
 * client bytes.
 */
#include "wire.h"

#include <string.h>

/* ---- JSON (RFC 8259) ----------------------------------------------------------------------- */

typedef struct {
  const unsigned char *s;
  size_t n, i;
  const char *what;
} jc_t;

static int jc_fail(jc_t *c, const char *what) {
  c->what = what;
  return 0;
}

static void jc_ws(jc_t *c) {
  while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r')) c->i++;
}

static int hex_value(unsigned char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* The code unit of the \uXXXX escape at c->i (just after "\u"), or -1. */
static long jc_u4(jc_t *c) {
  if (c->n - c->i < 4) return -1;
  long v = 0;
  for (int k = 0; k < 4; k++) {
    int h = hex_value(c->s[c->i + (size_t)k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  c->i += 4;
  return v;
}

/* One UTF-8 sequence of two or more bytes at c->i (RFC 3629 4), or 0. */
static int jc_utf8(jc_t *c) {
  const unsigned char *p = c->s + c->i;
  size_t left = c->n - c->i;
  unsigned char b0 = p[0];
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
  if (b0 >= 0xC2 && b0 <= 0xDF) len = 2;
  else if (b0 == 0xE0) { len = 3; lo = 0xA0; }
  else if (b0 >= 0xE1 && b0 <= 0xEC) len = 3;
  else if (b0 == 0xED) { len = 3; hi = 0x9F; } /* no UTF-16 surrogates */
  else if (b0 >= 0xEE && b0 <= 0xEF) len = 3;
  else if (b0 == 0xF0) { len = 4; lo = 0x90; }
  else if (b0 >= 0xF1 && b0 <= 0xF3) len = 4;
  else if (b0 == 0xF4) { len = 4; hi = 0x8F; } /* nothing above U+10FFFF */
  else return 0;
  if (left < len) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (size_t k = 2; k < len; k++) {
    if (p[k] < 0x80 || p[k] > 0xBF) return 0;
  }
  c->i += len;
  return 1;
}

static int jc_string(jc_t *c) {
  c->i++; /* the opening quote */
  for (;;) {
    if (c->i >= c->n) return jc_fail(c, "unterminated string");
    unsigned char ch = c->s[c->i];
    if (ch == '"') {
      c->i++;
      return 1;
    }
    if (ch < 0x20) return jc_fail(c, "control character in a string (escape it)");
    if (ch == '\\') {
      c->i++;
      if (c->i >= c->n) return jc_fail(c, "unterminated string");
      unsigned char e = c->s[c->i];
      if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
        c->i++;
        continue;
      }
      if (e != 'u') return jc_fail(c, "invalid escape in a string");
      c->i++;
      size_t esc = c->i - 2;
      long u = jc_u4(c);
      if (u < 0) return jc_fail(c, "\\u must be followed by four hex digits");
      if (u == 0) {
        c->i = esc;
        return jc_fail(c, "\\u0000 in a string is not supported");
      }
      if (u >= 0xDC00 && u <= 0xDFFF) {
        c->i = esc;
        return jc_fail(c, "unpaired UTF-16 surrogate escape");
      }
      if (u >= 0xD800 && u <= 0xDBFF) {
        long low = -1;
        if (c->n - c->i >= 2 && c->s[c->i] == '\\' && c->s[c->i + 1] == 'u') {
          c->i += 2;
          low = jc_u4(c);
        }
        if (low < 0xDC00 || low > 0xDFFF) {
          c->i = esc;
          return jc_fail(c, "unpaired UTF-16 surrogate escape");
        }
      }
      continue;
    }
    if (ch < 0x80) {
      c->i++;
      continue;
    }
    if (!jc_utf8(c)) return jc_fail(c, "invalid UTF-8 in a string");
  }
}

static int is_digit(unsigned char ch) { return ch >= '0' && ch <= '9'; }

static int jc_number(jc_t *c) {
  if (c->s[c->i] == '-') c->i++;
  if (c->i >= c->n || !is_digit(c->s[c->i])) return jc_fail(c, "invalid number");
  if (c->s[c->i] == '0') {
    c->i++;
    if (c->i < c->n && is_digit(c->s[c->i])) return jc_fail(c, "number with a leading zero");
  } else {
    while (c->i < c->n && is_digit(c->s[c->i])) c->i++;
  }
  if (c->i < c->n && c->s[c->i] == '.') {
    c->i++;
    if (c->i >= c->n || !is_digit(c->s[c->i])) return jc_fail(c, "a digit must follow the decimal point");
    while (c->i < c->n && is_digit(c->s[c->i])) c->i++;
  }
  if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
    c->i++;
    if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-')) c->i++;
    if (c->i >= c->n || !is_digit(c->s[c->i])) return jc_fail(c, "a digit must follow the exponent");
    while (c->i < c->n && is_digit(c->s[c->i])) c->i++;
  }
  return 1;
}

static int jc_literal(jc_t *c, const char *word) {
  size_t len = strlen(word);
  if (c->n - c->i < len || memcmp(c->s + c->i, word, len) != 0) return jc_fail(c, "invalid literal (true, false or null expected)");
  c->i += len;
  return 1;
}

/* One value at c->i (whitespace skipped before it). Recursion is bounded by max_depth. */
static int jc_value(jc_t *c, int depth, int max_depth) {
  jc_ws(c);
  if (c->i >= c->n) return jc_fail(c, "a value was expected");
  unsigned char ch = c->s[c->i];
  switch (ch) {
  case '{':
  case '[': {
    if (depth >= max_depth) return jc_fail(c, "nested too deep");
    unsigned char close = ch == '{' ? '}' : ']';
    c->i++;
    jc_ws(c);
    if (c->i < c->n && c->s[c->i] == close) {
      c->i++;
      return 1;
    }
    for (;;) {
      if (ch == '{') {
        jc_ws(c);
        if (c->i >= c->n || c->s[c->i] != '"') return jc_fail(c, "an object key (a string) was expected");
        if (!jc_string(c)) return 0;
        jc_ws(c);
        if (c->i >= c->n || c->s[c->i] != ':') return jc_fail(c, "':' was expected after an object key");
        c->i++;
      }
      if (!jc_value(c, depth + 1, max_depth)) return 0;
      jc_ws(c);
      if (c->i < c->n && c->s[c->i] == ',') {
        c->i++;
        continue;
      }
      if (c->i < c->n && c->s[c->i] == close) {
        c->i++;
        return 1;
      }
      return jc_fail(c, ch == '{' ? "',' or '}' was expected" : "',' or ']' was expected");
    }
  }
  case '"':
    return jc_string(c);
  case 't':
    return jc_literal(c, "true");
  case 'f':
    return jc_literal(c, "false");
  case 'n':
    return jc_literal(c, "null");
  default:
    if (ch == '-' || is_digit(ch)) return jc_number(c);
    return jc_fail(c, "a value was expected");
  }
}

int rm_json_check(const unsigned char *s, size_t n, int max_depth, size_t *at, const char **what) {
  if (max_depth < 1) max_depth = 1;
  if (max_depth > RM_JSON_MAX_DEPTH) max_depth = RM_JSON_MAX_DEPTH;
  jc_t c = {s, n, 0, NULL};
  int ok = jc_value(&c, 0, max_depth);
  if (ok) {
    jc_ws(&c);
    if (c.i != c.n) ok = jc_fail(&c, "unexpected text after the JSON value");
  }
  if (at) *at = c.i;
  if (what) *what = ok ? NULL : c.what;
  return ok;
}

/* ---- the request head ---------------------------------------------------------------------- */

/* RFC 9110 5.6.2 tchar. */
static int is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Characters of host_syntax's reg-name part (R/http_server.R). */
static int is_host_char(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
  return c != 0 && strchr("._~!$&'()*+,;=%-", c) != NULL;
}

/* host_syntax: ^([reg-name chars]*|\[[0-9A-Fa-f:.]+\])(:[0-9]*)?$ */
static int valid_host(const unsigned char *s, size_t n) {
  size_t i = 0;
  if (n > 0 && s[0] == '[') {
    i = 1;
    while (i < n && (hex_value(s[i]) >= 0 || s[i] == ':' || s[i] == '.')) i++;
    if (i == 1 || i >= n || s[i] != ']') return 0;
    i++;
  } else {
    while (i < n && is_host_char(s[i])) i++;
  }
  if (i < n && s[i] == ':') {
    i++;
    while (i < n && is_digit(s[i])) i++;
  }
  return i == n;
}

static int name_is(const unsigned char *s, int k0, int k1, const char *want) {
  int len = (int)strlen(want);
  if (k1 - k0 != len) return 0;
  for (int c = 0; c < len; c++) {
    unsigned char ch = s[k0 + c];
    if (ch >= 'A' && ch <= 'Z') ch = (unsigned char)(ch + 32);
    if (ch != (unsigned char)want[c]) return 0;
  }
  return 1;
}

int rm_head_scan(const unsigned char *s, int len, rm_head_t *h) {
  if (len <= 0) return 0;
  int i = 0;
  /* Request line. */
  h->method0 = i;
  while (i < len && is_tchar(s[i])) i++;
  h->method1 = i;
  if (h->method1 == h->method0 || i >= len || s[i] != ' ') return 0;
  i++;
  h->target0 = i;
  if (i >= len || s[i] != '/') return 0;
  while (i < len && s[i] >= 0x21 && s[i] <= 0x7e && s[i] != '#') i++;
  h->target1 = i;
  if (i >= len || s[i] != ' ') return 0;
  i++;
  if (len - i < 8 || memcmp(s + i, "HTTP/1.", 7) != 0 || (s[i + 7] != '0' && s[i + 7] != '1')) return 0;
  h->minor = s[i + 7] - '0';
  i += 8;
  if (i < len && !(i + 1 < len && s[i] == '\r' && s[i + 1] == '\n')) return 0;
  h->query_at = h->target0;
  while (h->query_at < h->target1 && s[h->query_at] != '?') h->query_at++;
  /* Header lines. */
  int nh = 0, hosts = 0, host_at = -1, cls = 0;
  h->content_length = -1;
  h->transfer_encodings = 0;
  while (i < len) {
    i += 2; /* the CRLF ending the previous line */
    if (nh == RM_MAX_HEADERS) return 0;
    int k0 = i;
    while (i < len && is_tchar(s[i])) i++;
    if (i == k0 || i >= len || s[i] != ':') return 0;
    int k1 = i;
    i++;
    int v0 = i;
    while (i < len && (s[i] == '\t' || (s[i] >= 0x20 && s[i] <= 0x7e))) i++;
    int v1 = i;
    if (i < len && !(i + 1 < len && s[i] == '\r' && s[i + 1] == '\n')) return 0;
    /* A line of just CRLF cannot occur: the head ends at the first empty line. */
    while (v0 < v1 && (s[v0] == ' ' || s[v0] == '\t')) v0++;
    while (v1 > v0 && (s[v1 - 1] == ' ' || s[v1 - 1] == '\t')) v1--;
    h->key0[nh] = k0;
    h->key1[nh] = k1;
    h->val0[nh] = v0;
    h->val1[nh] = v1;
    if (name_is(s, k0, k1, "host")) { hosts++; host_at = nh; }
    if (name_is(s, k0, k1, "content-length")) { cls++; h->content_length = nh; }
    if (name_is(s, k0, k1, "transfer-encoding")) h->transfer_encodings++;
    nh++;
  }
  h->n_headers = nh;
  if (hosts != h->minor) return 0;
  if (hosts == 1 && !valid_host(s + h->val0[host_at], (size_t)(h->val1[host_at] - h->val0[host_at]))) return 0;
  if (cls > 1) return 0;
  if (cls == 1) {
    int a = h->val0[h->content_length], b = h->val1[h->content_length];
    if (a == b || memchr(s + a, ',', (size_t)(b - a)) != NULL) return 0;
  }
  return 1;
}
