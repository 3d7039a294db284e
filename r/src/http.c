/*
 * The per-request work of the HTTP server (R/http_server.R) and the codec (R/codec.R) for the
 * common case, in C. Done in R, the head's regular expressions, the JSON tree jsonlite builds and
 * the number formatting cost more than a single-row predict().
 *
 * Every function here is a fast path with the R code as its reference: it either gives exactly
 * what the R code gives, or returns NULL and the caller runs the R code, which also explains
 * what is wrong. A fast path accepts a narrower input than the R code (plain ASCII, no escapes,
 * no unexpected keys), so any doubt ends on the R path.
 */
#define R_NO_REMAP
#include <R.h>
#include <Rinternals.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- growable byte buffer ------------------------------------------------------------------ */

typedef struct {
  char *p;
  size_t n, cap;
} buf_t;

static int buf_reserve(buf_t *b, size_t more) {
  if (b->n + more <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->n + more) cap *= 2;
  char *q = (char *)realloc(b->p, cap);
  if (q == NULL) return 0;
  b->p = q;
  b->cap = cap;
  return 1;
}

static int buf_add(buf_t *b, const char *s, size_t len) {
  if (!buf_reserve(b, len)) return 0;
  memcpy(b->p + b->n, s, len);
  b->n += len;
  return 1;
}

static int buf_str(buf_t *b, const char *s) { return buf_add(b, s, strlen(s)); }

/* ---- the request head ---------------------------------------------------------------------- */

#include "wire.h"

/* 1-based position of the first CRLFCRLF in buf (as grepRaw gives it), 0 if none. */
SEXP rmlops_head_end(SEXP buf) {
  R_xlen_t n = XLENGTH(buf);
  const unsigned char *b = RAW(buf);
  for (R_xlen_t i = 0; i + 3 < n; i++) {
    if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') return Rf_ScalarInteger((int)(i + 1));
  }
  return Rf_ScalarInteger(0);
}

static SEXP mk_range(const unsigned char *s, int a, int b) { return Rf_mkCharLen((const char *)s + a, b - a); }

/*
 * The first `len` bytes of `buf` are a request head (no final CRLFCRLF). Returns what
 * parse_head() returns for it when rm_head_scan() (wire.c) takes it as the common, unremarkable
 * kind; NULL otherwise.
 */
SEXP rmlops_parse_head(SEXP buf, SEXP len_) {
  int len = Rf_asInteger(len_);
  if (TYPEOF(buf) != RAWSXP || len == NA_INTEGER || len <= 0 || len > XLENGTH(buf)) return R_NilValue;
  const unsigned char *s = RAW(buf);
  rm_head_t h;
  if (!rm_head_scan(s, len, &h)) return R_NilValue;
  int nh = h.n_headers;

  SEXP out = PROTECT(Rf_allocVector(VECSXP, 7));
  SEXP names = PROTECT(Rf_allocVector(STRSXP, 7));
  const char *fields[] = {"method", "path", "query", "minor", "headers", "content_length", "transfer_encoding"};
  for (int f = 0; f < 7; f++) SET_STRING_ELT(names, f, Rf_mkChar(fields[f]));
  Rf_setAttrib(out, R_NamesSymbol, names);
  SET_VECTOR_ELT(out, 0, Rf_ScalarString(mk_range(s, h.method0, h.method1)));
  SET_VECTOR_ELT(out, 1, Rf_ScalarString(mk_range(s, h.target0, h.query_at)));
  SET_VECTOR_ELT(out, 2, Rf_ScalarString(h.query_at < h.target1 ? mk_range(s, h.query_at + 1, h.target1) : Rf_mkChar("")));
  SET_VECTOR_ELT(out, 3, Rf_ScalarInteger(h.minor));
  SEXP headers = PROTECT(Rf_allocVector(VECSXP, nh));
  SEXP keys = PROTECT(Rf_allocVector(STRSXP, nh));
  char key[256];
  for (int i = 0; i < nh; i++) {
    int kl = h.key1[i] - h.key0[i];
    char *dst = kl < (int)sizeof key ? key : R_alloc((size_t)kl, 1);
    for (int c = 0; c < kl; c++) {
      unsigned char ch = s[h.key0[i] + c];
      dst[c] = (char)((ch >= 'A' && ch <= 'Z') ? ch + 32 : ch);
    }
    SET_STRING_ELT(keys, i, Rf_mkCharLen(dst, kl));
    SET_VECTOR_ELT(headers, i, Rf_ScalarString(mk_range(s, h.val0[i], h.val1[i])));
  }
  Rf_setAttrib(headers, R_NamesSymbol, keys);
  SET_VECTOR_ELT(out, 4, headers);
  SET_VECTOR_ELT(out, 5, h.content_length >= 0
                             ? Rf_ScalarString(mk_range(s, h.val0[h.content_length], h.val1[h.content_length]))
                             : Rf_allocVector(STRSXP, 0));
  SEXP te = PROTECT(Rf_allocVector(STRSXP, h.transfer_encodings));
  for (int i = 0, t = 0; i < nh; i++) {
    if (h.key1[i] - h.key0[i] == 17 && strncasecmp((const char *)s + h.key0[i], "transfer-encoding", 17) == 0) {
      SET_STRING_ELT(te, t++, mk_range(s, h.val0[i], h.val1[i]));
    }
  }
  SET_VECTOR_ELT(out, 6, te);
  UNPROTECT(5);
  return out;
}

/*
 * rm_json_check() (wire.c) on a raw body: NULL when it is one valid JSON text no deeper than
 * `max_depth`, else a message naming the byte offset and what was wrong (never the client's
 * bytes, so it is safe in any message or log line).
 */
SEXP rmlops_json_check(SEXP body, SEXP max_depth) {
  if (TYPEOF(body) != RAWSXP) return Rf_mkString("not a raw vector");
  size_t at = 0;
  const char *what = NULL;
  if (rm_json_check(RAW(body), (size_t)XLENGTH(body), Rf_asInteger(max_depth), &at, &what)) return R_NilValue;
  char msg[160];
  snprintf(msg, sizeof msg, "%s at byte %llu", what ? what : "invalid JSON", (unsigned long long)at + 1ULL);
  return Rf_mkString(msg);
}

/* ---- small helpers ------------------------------------------------------------------------- */

/* as.numeric(Sys.time()), without building a POSIXct: the loop reads the clock several times
 * per request. */
SEXP rmlops_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return Rf_ScalarReal((double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec);
}

/* grepl("^[0-9]{1,<max>}$", x) for one string, without compiling a regular expression. */
SEXP rmlops_is_digits(SEXP x, SEXP max) {
  if (TYPEOF(x) != STRSXP || XLENGTH(x) != 1 || STRING_ELT(x, 0) == NA_STRING) return Rf_ScalarLogical(0);
  const char *c = CHAR(STRING_ELT(x, 0));
  size_t n = strlen(c);
  if (n < 1 || n > (size_t)Rf_asInteger(max)) return Rf_ScalarLogical(0);
  for (size_t i = 0; i < n; i++) {
    if (c[i] < '0' || c[i] > '9') return Rf_ScalarLogical(0);
  }
  return Rf_ScalarLogical(1);
}

/* RFC 9110 5.6.7 IMF-fixdate of the current second, formatted once a second. */
static const char *http_date(void) {
  static time_t cached = -1;
  static char text[64];
  static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t now = time(NULL);
  if (now != cached) {
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(text, sizeof text, "%s, %02d %s %d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached = now;
  }
  return text;
}

/* ---- the response -------------------------------------------------------------------------- */

/*
 * format_response(): head and body in one raw vector (see the top of R/http_server.R for why
 * one write). `body` is a raw vector or a string (written as UTF-8); `reasons` is http_reason,
 * reason phrases named by status code.
 */
SEXP rmlops_format_response(SEXP status, SEXP reasons, SEXP content_type, SEXP body, SEXP keep_alive,
                            SEXP extra_names, SEXP extra_values, SEXP head_only) {
  const char *b;
  size_t blen;
  if (TYPEOF(body) == RAWSXP) {
    b = (const char *)RAW(body);
    blen = (size_t)XLENGTH(body);
  } else {
    b = Rf_translateCharUTF8(STRING_ELT(body, 0));
    blen = strlen(b);
  }
  buf_t o = {NULL, 0, 0};
  char num[64];
  int ok = buf_reserve(&o, 256 + blen);
  snprintf(num, sizeof num, "%d", Rf_asInteger(status));
  const char *reason = "Unknown";
  SEXP codes = Rf_getAttrib(reasons, R_NamesSymbol);
  for (R_xlen_t r = 0; r < XLENGTH(reasons) && !Rf_isNull(codes); r++) {
    if (strcmp(CHAR(STRING_ELT(codes, r)), num) == 0) {
      reason = Rf_translateCharUTF8(STRING_ELT(reasons, r));
      break;
    }
  }
  snprintf(num, sizeof num, "HTTP/1.1 %d ", Rf_asInteger(status));
  ok = ok && buf_str(&o, num) && buf_str(&o, reason) &&
       buf_str(&o, "\r\nDate: ") && buf_str(&o, http_date()) &&
       buf_str(&o, "\r\nContent-Type: ") && buf_str(&o, Rf_translateCharUTF8(STRING_ELT(content_type, 0)));
  snprintf(num, sizeof num, "\r\nContent-Length: %llu\r\n", (unsigned long long)blen);
  ok = ok && buf_str(&o, num) && buf_str(&o, Rf_asLogical(keep_alive) == 1 ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
  for (R_xlen_t h = 0; ok && h < XLENGTH(extra_values); h++) {
    ok = buf_str(&o, Rf_translateCharUTF8(STRING_ELT(extra_names, h))) && buf_str(&o, ": ") &&
         buf_str(&o, Rf_translateCharUTF8(STRING_ELT(extra_values, h))) && buf_str(&o, "\r\n");
  }
  ok = ok && buf_str(&o, "\r\n");
  if (ok && Rf_asLogical(head_only) != 1) ok = buf_add(&o, b, blen);
  if (!ok) {
    free(o.p);
    Rf_error("out of memory formatting a response");
  }
  SEXP out = PROTECT(Rf_allocVector(RAWSXP, (R_xlen_t)o.n));
  memcpy(RAW(out), o.p, o.n);
  free(o.p);
  UNPROTECT(1);
  return out;
}

/* ---- metrics ------------------------------------------------------------------------------- */

/*
 * record_request() (R/metrics.R): one request of `status` that took `seconds` into a route's
 * vector, in place: buckets (the first bound not below `seconds`, as findInterval(left.open =
 * TRUE) + 1 finds it), their sum, count, then counts per status code 100..599. FALSE when the
 * code is out of that range: the caller counts it.
 */
SEXP rmlops_record(SEXP v, SEXP bounds, SEXP status, SEXP seconds) {
  int nb = LENGTH(bounds) + 1, code = Rf_asInteger(status);
  double s = Rf_asReal(seconds);
  /* The exposition must always parse: no NaN sum, no negative duration. */
  if (!isfinite(s) || s < 0) s = 0;
  if (TYPEOF(v) != REALSXP || TYPEOF(bounds) != REALSXP || XLENGTH(v) != nb + 2 + 500) {
    Rf_error("rmlops_record: not a metrics vector");
  }
  double *x = REAL(v);
  const double *b = REAL(bounds);
  int i = 0;
  while (i < nb - 1 && b[i] < s) i++;
  x[i] += 1;
  x[nb] += s;
  x[nb + 1] += 1;
  if (code == NA_INTEGER || code < 100 || code > 599) return Rf_ScalarLogical(0);
  x[nb + 2 + code - 100] += 1;
  return Rf_ScalarLogical(1);
}

/* ---- the request log line ------------------------------------------------------------------ */

static int add_escaped(buf_t *b, const char *s) {
  for (; *s; s++) {
    if ((*s == '"' || *s == '\\') && !buf_add(b, "\\", 1)) return 0;
    if (!buf_add(b, s, 1)) return 0;
  }
  return 1;
}

/*
 * make_request_log()'s line, written to R's standard output (sink() and capture.output() see
 * it as they see cat()). `prefix` is the timestamp up to the minute; only " and \ are escaped,
 * as json_escape() does (method and path are printable ASCII by then).
 */
SEXP rmlops_log_request(SEXP prefix, SEXP seconds, SEXP method, SEXP path, SEXP status, SEXP ms, SEXP rows, SEXP puid) {
  buf_t b = {NULL, 0, 0};
  char num[96];
  int ok = buf_reserve(&b, 256) && buf_str(&b, "{\"ts\":\"") && buf_str(&b, CHAR(STRING_ELT(prefix, 0)));
  snprintf(num, sizeof num, "%06.3fZ\",\"method\":\"", Rf_asReal(seconds));
  ok = ok && buf_str(&b, num) && add_escaped(&b, CHAR(STRING_ELT(method, 0))) && buf_str(&b, "\",\"path\":\"") &&
       add_escaped(&b, CHAR(STRING_ELT(path, 0)));
  int r = Rf_asInteger(rows);
  double msv = Rf_asReal(ms);
  if (!isfinite(msv) || msv < 0) msv = 0; /* "nan" is not JSON */
  if (r == NA_INTEGER) {
    snprintf(num, sizeof num, "\",\"status\":%d,\"duration_ms\":%.3f,\"rows\":null", Rf_asInteger(status), msv);
  } else {
    snprintf(num, sizeof num, "\",\"status\":%d,\"duration_ms\":%.3f,\"rows\":%d", Rf_asInteger(status), msv, r);
  }
  ok = ok && buf_str(&b, num);
  /* `puid`: already JSON text (json_values() in R escapes it), or NULL. */
  if (ok && TYPEOF(puid) == STRSXP && XLENGTH(puid) == 1 && STRING_ELT(puid, 0) != NA_STRING) {
    ok = buf_str(&b, ",\"puid\":") && buf_str(&b, Rf_translateCharUTF8(STRING_ELT(puid, 0)));
  }
  ok = ok && buf_str(&b, "}\n") && buf_add(&b, "", 1);
  if (!ok) {
    free(b.p);
    Rf_error("out of memory formatting a log line");
  }
  Rprintf("%s", b.p);
  free(b.p);
  return R_NilValue;
}

/* ---- JSON values of predictions ------------------------------------------------------------ */

/* json_values() of one element: 1 written, 0 when the R code must do it (a string with a
 * control character), -1 out of memory. */
static int add_value(buf_t *b, SEXP x, R_xlen_t i) {
  char num[64];
  int ok;
  switch (TYPEOF(x)) {
  case REALSXP: {
    double v = REAL(x)[i];
    if (!isfinite(v)) {
      ok = buf_str(b, "null");
    } else {
      snprintf(num, sizeof num, "%.15g", v);
      ok = buf_str(b, num);
    }
    break;
  }
  case INTSXP: {
    int v = INTEGER(x)[i];
    if (v == NA_INTEGER) {
      ok = buf_str(b, "null");
    } else {
      /* R's sprintf("%.15g") formats an integer as a double. */
      snprintf(num, sizeof num, "%.15g", (double)v);
      ok = buf_str(b, num);
    }
    break;
  }
  case LGLSXP: {
    int v = LOGICAL(x)[i];
    ok = buf_str(b, v == NA_LOGICAL ? "null" : v ? "true" : "false");
    break;
  }
  case STRSXP: {
    SEXP e = STRING_ELT(x, i);
    if (e == NA_STRING) {
      ok = buf_str(b, "null");
      break;
    }
    const char *s = Rf_translateCharUTF8(e);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
      if (*c < 0x20) return 0;
    }
    ok = buf_add(b, "\"", 1) && add_escaped(b, s) && buf_add(b, "\"", 1);
    break;
  }
  default:
    return 0;
  }
  return ok ? 1 : -1;
}

/*
 * The JSON array of a prediction vector, or of a matrix's rows (row-major, one array per row),
 * exactly as encode_predictions() writes it with json_values(). NULL when the R code must do it.
 */
SEXP rmlops_json_ndarray(SEXP x) {
  int t = TYPEOF(x);
  if (t != REALSXP && t != INTSXP && t != LGLSXP && t != STRSXP) return R_NilValue;
  SEXP dim = Rf_getAttrib(x, R_DimSymbol);
  R_xlen_t n = XLENGTH(x), nr = n, nc = 0;
  /* Empty predictions come out of paste0()'s recycling in the R code (e.g. [""]): left to it. */
  if (n == 0) return R_NilValue;
  if (!Rf_isNull(dim)) {
    if (LENGTH(dim) != 2) return R_NilValue;
    nr = INTEGER(dim)[0];
    nc = INTEGER(dim)[1];
    /* json_values() makes no rows of a matrix without columns. */
    if (nc == 0) return R_NilValue;
  }
  buf_t b = {NULL, 0, 0};
  int ok = buf_reserve(&b, (size_t)n * 8 + 16) && buf_add(&b, "[", 1) ? 1 : -1;
  for (R_xlen_t r = 0; ok > 0 && r < nr; r++) {
    if (r > 0 && !buf_add(&b, ",", 1)) {
      ok = -1;
      break;
    }
    if (nc == 0) {
      ok = add_value(&b, x, r);
      continue;
    }
    if (!buf_add(&b, "[", 1)) {
      ok = -1;
      break;
    }
    for (R_xlen_t c = 0; ok > 0 && c < nc; c++) {
      if (c > 0 && !buf_add(&b, ",", 1)) ok = -1;
      else ok = add_value(&b, x, r + c * nr);
    }
    if (ok > 0 && !buf_add(&b, "]", 1)) ok = -1;
  }
  if (ok > 0 && !buf_add(&b, "]", 1)) ok = -1;
  if (ok > 0 && b.n > (size_t)INT_MAX) ok = -1; /* an R string holds at most INT_MAX bytes */
  if (ok <= 0) {
    free(b.p);
    if (ok < 0) Rf_error("out of memory encoding predictions");
    return R_NilValue;
  }
  SEXP out = PROTECT(Rf_allocVector(STRSXP, 1));
  SET_STRING_ELT(out, 0, Rf_mkCharLenCE(b.p, (int)b.n, CE_UTF8));
  free(b.p);
  UNPROTECT(1);
  return out;
}

/* ---- a Seldon message for an all-numeric model --------------------------------------------- */

typedef struct {
  const unsigned char *c, *end;
} cursor_t;

static void ws(cursor_t *k) {
  while (k->c < k->end && (*k->c == ' ' || *k->c == '\t' || *k->c == '\n' || *k->c == '\r')) k->c++;
}

static int eat(cursor_t *k, char ch) {
  ws(k);
  if (k->c < k->end && *k->c == ch) {
    k->c++;
    return 1;
  }
  return 0;
}

/* A string of printable ASCII without escapes: its bytes (between the quotes) and length. */
static int plain_string(cursor_t *k, const char **s, int *len) {
  ws(k);
  if (k->c >= k->end || *k->c != '"') return 0;
  const unsigned char *p = ++k->c;
  while (k->c < k->end && *k->c >= 0x20 && *k->c <= 0x7e && *k->c != '"' && *k->c != '\\') k->c++;
  if (k->c >= k->end || *k->c != '"') return 0;
  *s = (const char *)p;
  *len = (int)(k->c - p);
  k->c++;
  return 1;
}

/*
 * A JSON number (RFC 8259 6) that jsonlite reads as the same finite double. Integer literals
 * are what jsonlite reads as integers (so -0 is 0); very long ones, and anything strtod()
 * over- or underflows, are left to the R path.
 */
static int json_number(cursor_t *k, double *out) {
  ws(k);
  const unsigned char *p = k->c, *e = k->end;
  int integer = 1, digits = 0;
  if (p < e && *p == '-') p++;
  if (p < e && *p == '0') {
    p++;
    digits = 1;
  } else if (p < e && *p >= '1' && *p <= '9') {
    while (p < e && *p >= '0' && *p <= '9') { p++; digits++; }
  } else {
    return 0;
  }
  if (p < e && *p == '.') {
    integer = 0;
    p++;
    if (!(p < e && *p >= '0' && *p <= '9')) return 0;
    while (p < e && *p >= '0' && *p <= '9') p++;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    integer = 0;
    p++;
    if (p < e && (*p == '+' || *p == '-')) p++;
    if (!(p < e && *p >= '0' && *p <= '9')) return 0;
    while (p < e && *p >= '0' && *p <= '9') p++;
  }
  if (integer && digits > 18) return 0;
  /* The body is copied with a NUL after it, so strtod stops at the end of the buffer at worst. */
  char *stop;
  errno = 0;
  double x = strtod((const char *)k->c, &stop);
  if ((const unsigned char *)stop != p || errno != 0 || !isfinite(x)) return 0;
  if (integer && x == 0) x = 0;
  *out = x;
  k->c = p;
  return 1;
}

/*
 * Skips one JSON value that jsonlite reads without complaint: plain strings, numbers as
 * json_number() takes them, literals, and arrays and objects of those (an object's keys
 * unique, so the value is the same to every parser).
 */
static int skip_value(cursor_t *k, int depth) {
  const char *s;
  int len;
  double x;
  ws(k);
  if (k->c >= k->end || depth > 16) return 0;
  switch (*k->c) {
  case '"':
    return plain_string(k, &s, &len);
  case '[':
    k->c++;
    if (eat(k, ']')) return 1;
    do {
      if (!skip_value(k, depth + 1)) return 0;
    } while (eat(k, ','));
    return eat(k, ']');
  case '{': {
    k->c++;
    if (eat(k, '}')) return 1;
    const char *keys[64];
    int lens[64], n = 0;
    do {
      if (n == 64 || !plain_string(k, &keys[n], &lens[n]) || !eat(k, ':')) return 0;
      for (int i = 0; i < n; i++) {
        if (lens[i] == lens[n] && memcmp(keys[i], keys[n], (size_t)lens[n]) == 0) return 0;
      }
      n++;
      if (!skip_value(k, depth + 1)) return 0;
    } while (eat(k, ','));
    return eat(k, '}');
  }
  case 't':
    if (k->end - k->c >= 4 && memcmp(k->c, "true", 4) == 0) { k->c += 4; return 1; }
    return 0;
  case 'f':
    if (k->end - k->c >= 5 && memcmp(k->c, "false", 5) == 0) { k->c += 5; return 1; }
    return 0;
  case 'n':
    if (k->end - k->c >= 4 && memcmp(k->c, "null", 4) == 0) { k->c += 4; return 1; }
    return 0;
  default:
    return json_number(k, &x);
  }
}

static int is_key(const char *key, int len, const char *want) {
  return (size_t)len == strlen(want) && memcmp(key, want, (size_t)len) == 0;
}

/*
 * The "meta" value of a Seldon message: skipped as skip_value() does, and when it is an object
 * with a plain string "puid", that string (*s, *len; *s stays NULL when there is none). 0 when
 * the R path must read it (a puid that is not a plain string included: it explains or decodes).
 */
static int meta_puid(cursor_t *k, const char **s, int *len) {
  cursor_t scan = *k;
  if (!skip_value(k, 1)) return 0;
  ws(&scan);
  if (scan.c >= scan.end || *scan.c != '{') return 1;
  scan.c++;
  if (eat(&scan, '}')) return 1;
  const char *key;
  int klen;
  do {
    if (!plain_string(&scan, &key, &klen) || !eat(&scan, ':')) return 0;
    if (is_key(key, klen, "puid")) {
      if (*s != NULL || !plain_string(&scan, s, len)) return 0;
    } else if (!skip_value(&scan, 2)) {
      return 0;
    }
  } while (eat(&scan, ','));
  return 1;
}

/*
 * A request body the C decoders read: plain ASCII (no NUL, no UTF-8 to validate, nothing
 * jsonlite would read differently), no deeper than decode_strict()'s json_depth_exceeds()
 * allows (counting as it does), copied with a NUL after it for strtod(). 0: left to R.
 */
static int plain_body(SEXP body, cursor_t *k) {
  if (TYPEOF(body) != RAWSXP || XLENGTH(body) == 0 || XLENGTH(body) > INT_MAX - 1) return 0;
  R_xlen_t blen = XLENGTH(body);
  const unsigned char *raw = RAW(body);
  int depth = 0;
  for (R_xlen_t i = 0; i < blen; i++) {
    unsigned char ch = raw[i];
    if (ch > 0x7e || (ch < 0x20 && ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')) return 0;
    if (ch == '[' || ch == '{') {
      if (++depth > 16) return 0;
    } else if (ch == ']' || ch == '}') {
      depth--;
    }
  }
  unsigned char *text = (unsigned char *)R_alloc((size_t)blen + 1, 1);
  memcpy(text, raw, (size_t)blen);
  text[blen] = 0;
  k->c = text;
  k->end = text + blen;
  return 1;
}

/* The data frame of n row-major values, p per row, column j from position order[j] of a row. */
static SEXP numeric_frame(const double *v, size_t n, int p, const int *order, SEXP features) {
  R_xlen_t rows = (R_xlen_t)(n / (size_t)p);
  SEXP df = PROTECT(Rf_allocVector(VECSXP, p));
  for (int j = 0; j < p; j++) {
    SEXP col = Rf_allocVector(REALSXP, rows);
    SET_VECTOR_ELT(df, j, col);
    double *d = REAL(col);
    const double *src = v + order[j];
    for (R_xlen_t r = 0; r < rows; r++) d[r] = src[r * p];
  }
  Rf_setAttrib(df, R_NamesSymbol, Rf_duplicate(features));
  Rf_setAttrib(df, R_ClassSymbol, Rf_mkString("data.frame"));
  SEXP rn = PROTECT(Rf_allocVector(INTSXP, 2));
  INTEGER(rn)[0] = NA_INTEGER;
  INTEGER(rn)[1] = -(int)rows;
  Rf_setAttrib(df, R_RowNamesSymbol, rn);
  UNPROTECT(2);
  return df;
}

/*
 * decode_request() for {"data":{"names":[...],"ndarray":[[...],...]}} (keys in any order,
 * "names" optional; beside "data", other keys such as "meta" with any plain value, which
 * decode_strict() ignores too) when the model's features are all numeric: the data frame
 * decode_strict() would build. NULL for anything else, including every message decode_strict()
 * refuses, so the R path answers those with its explanation.
 */
SEXP rmlops_decode_seldon(SEXP body, SEXP features) {
  if (TYPEOF(body) != RAWSXP || XLENGTH(body) == 0 || XLENGTH(body) > INT_MAX - 1) return R_NilValue;
  int p = LENGTH(features);
  if (p < 1) return R_NilValue;
  cursor_t k;
  if (!plain_body(body, &k)) return R_NilValue;
  int order[256];
  if (p > 256) return R_NilValue;
  for (int j = 0; j < p; j++) order[j] = j;
  int seen_data = 0, seen_names = 0, seen_nd = 0;
  size_t n = 0, cap = 0;
  double *v = NULL;
  const char *key;
  int klen;
  const char *others[16];
  int other_lens[16], n_others = 0;
  const char *puid = NULL;
  int puid_len = 0;
  if (!eat(&k, '{')) goto fail;
  do {
    if (!plain_string(&k, &key, &klen) || !eat(&k, ':')) goto fail;
    if (!is_key(key, klen, "data")) {
      /* decode_strict() refuses these (when not null) and duplicate keys: left to it. */
      if (is_key(key, klen, "jsonData") || is_key(key, klen, "strData") || is_key(key, klen, "binData")) goto fail;
      if (n_others == 16) goto fail;
      for (int i = 0; i < n_others; i++) {
        if (other_lens[i] == klen && memcmp(others[i], key, (size_t)klen) == 0) goto fail;
      }
      others[n_others] = key;
      other_lens[n_others++] = klen;
      if (is_key(key, klen, "meta")) {
        if (!meta_puid(&k, &puid, &puid_len)) goto fail;
      } else if (!skip_value(&k, 1)) {
        goto fail;
      }
      continue;
    }
    if (seen_data) goto fail;
    seen_data = 1;
    if (!eat(&k, '{')) goto fail;
    do {
      if (!plain_string(&k, &key, &klen) || !eat(&k, ':')) goto fail;
      if (klen == 5 && memcmp(key, "names", 5) == 0 && !seen_names) {
        seen_names = 1;
        int taken[256] = {0}, count = 0;
        if (!eat(&k, '[')) goto fail;
        do {
          const char *s;
          int sl;
          if (count == p || !plain_string(&k, &s, &sl)) goto fail;
          int j = 0;
          for (; j < p; j++) {
            const char *f = Rf_translateCharUTF8(STRING_ELT(features, j));
            if ((int)strlen(f) == sl && memcmp(f, s, (size_t)sl) == 0) break;
          }
          if (j == p || taken[j]) goto fail;
          taken[j] = 1;
          order[j] = count++;
        } while (eat(&k, ','));
        if (!eat(&k, ']') || count != p) goto fail;
      } else if (klen == 7 && memcmp(key, "ndarray", 7) == 0 && !seen_nd) {
        seen_nd = 1;
        if (!eat(&k, '[')) goto fail;
        do {
          if (!eat(&k, '[')) goto fail;
          if (n + (size_t)p > cap) {
            cap = cap ? 2 * cap : (size_t)p * 64;
            double *w = (double *)realloc(v, cap * sizeof(double));
            if (w == NULL) goto fail;
            v = w;
          }
          for (int j = 0; j < p; j++) {
            if (j > 0 && !eat(&k, ',')) goto fail;
            if (!json_number(&k, &v[n++])) goto fail;
          }
          if (!eat(&k, ']')) goto fail;
        } while (eat(&k, ','));
        if (!eat(&k, ']')) goto fail;
      } else {
        goto fail;
      }
    } while (eat(&k, ','));
    if (!eat(&k, '}')) goto fail;
  } while (eat(&k, ','));
  if (!eat(&k, '}') || !seen_data || !seen_nd) goto fail;
  ws(&k);
  if (k.c != k.end) goto fail;
  if (n / (size_t)p > (size_t)INT_MAX) goto fail;

  SEXP df = PROTECT(numeric_frame(v, n, p, order, features));
  free(v);
  /* As request_frame() in R/codec.R marks it. */
  if (puid != NULL) Rf_setAttrib(df, Rf_install("rmlops_puid"), Rf_ScalarString(Rf_mkCharLenCE(puid, puid_len, CE_UTF8)));
  UNPROTECT(1);
  return df;
fail:
  free(v);
  return R_NilValue;
}

/*
 * decode_v2_request() for the common OIP request of an all-numeric model with more than one
 * feature: {"inputs":[{"name":"<s>","datatype":"FP64"|"FP32"|"FP16","shape":[n,p],"data":[...]}]}
 * with an optional plain string "id"; data flat or nested by row, n*p finite numbers. Those
 * datatypes take any number, as v2_column() does for a numeric feature. list(frame, id); NULL
 * for anything else (parameters, outputs, several tensors, other datatypes, any mistake), which
 * the R path reads and explains.
 */
SEXP rmlops_decode_v2(SEXP body, SEXP features) {
  int p = LENGTH(features);
  if (p < 2 || p > 256) return R_NilValue;
  cursor_t k;
  if (!plain_body(body, &k)) return R_NilValue;
  const char *key, *id = NULL, *s;
  int klen, id_len = 0, sl, seen_inputs = 0;
  size_t n = 0, cap = 0;
  double *v = NULL, rows = -1;
  if (!eat(&k, '{')) goto fail;
  do {
    if (!plain_string(&k, &key, &klen) || !eat(&k, ':')) goto fail;
    if (is_key(key, klen, "id") && id == NULL) {
      if (!plain_string(&k, &id, &id_len)) goto fail;
    } else if (is_key(key, klen, "inputs") && !seen_inputs) {
      seen_inputs = 1;
      int seen_name = 0, seen_type = 0, seen_shape = 0, seen_data = 0;
      if (!eat(&k, '[') || !eat(&k, '{')) goto fail;
      do {
        if (!plain_string(&k, &key, &klen) || !eat(&k, ':')) goto fail;
        if (is_key(key, klen, "name") && !seen_name) {
          seen_name = 1;
          if (!plain_string(&k, &s, &sl)) goto fail;
        } else if (is_key(key, klen, "datatype") && !seen_type) {
          seen_type = 1;
          if (!plain_string(&k, &s, &sl) || !(is_key(s, sl, "FP64") || is_key(s, sl, "FP32") || is_key(s, sl, "FP16"))) goto fail;
        } else if (is_key(key, klen, "shape") && !seen_shape) {
          seen_shape = 1;
          double cols;
          if (!eat(&k, '[') || !json_number(&k, &rows) || !eat(&k, ',') || !json_number(&k, &cols) || !eat(&k, ']')) goto fail;
          if (!(rows >= 1 && rows <= 1e7 && rows == (double)(long)rows) || cols != (double)p) goto fail;
        } else if (is_key(key, klen, "data") && !seen_data) {
          seen_data = 1;
          if (!eat(&k, '[')) goto fail;
          ws(&k);
          int nested = k.c < k.end && *k.c == '[';
          do {
            if (nested && !eat(&k, '[')) goto fail;
            for (int j = 0; j < (nested ? p : 1); j++) {
              if (n == cap) {
                cap = cap ? 2 * cap : (size_t)p * 16;
                double *w = (double *)realloc(v, cap * sizeof(double));
                if (w == NULL) goto fail;
                v = w;
              }
              if (j > 0 && !eat(&k, ',')) goto fail;
              if (!json_number(&k, &v[n++])) goto fail;
            }
            if (nested && !eat(&k, ']')) goto fail;
          } while (eat(&k, ','));
          if (!eat(&k, ']')) goto fail;
        } else {
          goto fail;
        }
      } while (eat(&k, ','));
      if (!eat(&k, '}') || !eat(&k, ']')) goto fail;
      if (!(seen_name && seen_type && seen_shape && seen_data)) goto fail;
    } else {
      goto fail;
    }
  } while (eat(&k, ','));
  if (!eat(&k, '}') || !seen_inputs) goto fail;
  ws(&k);
  if (k.c != k.end || (double)n != rows * p) goto fail;

  int order[256];
  for (int j = 0; j < p; j++) order[j] = j;
  SEXP out = PROTECT(Rf_allocVector(VECSXP, 2));
  SET_VECTOR_ELT(out, 0, numeric_frame(v, n, p, order, features));
  free(v);
  if (id != NULL) SET_VECTOR_ELT(out, 1, Rf_ScalarString(Rf_mkCharLenCE(id, id_len, CE_UTF8)));
  UNPROTECT(1);
  return out;
fail:
  free(v);
  return R_NilValue;
}

/* ---- client sockets ------------------------------------------------------------------------ */

/*
 * The server's client connections are plain descriptors, accepted and read and written here.
 * R's socket connections cannot say how much of a write went out (writeBin() waits up to the
 * connection's timeout for the rest, then only warns), and socketSelect(), readBin() and
 * writeBin() with their condition handlers cost more per request than the HTTP work itself.
 * Every descriptor is non-blocking, so no call here ever waits except rmlops_poll().
 *
 * The accepted descriptors are recorded, so a forked child that must not hold them (the
 * model loader) can close them all: closeAllConnections() does not know them.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_TRACKED_FD 65536
static unsigned char tracked[MAX_TRACKED_FD / 8];

static void track(int fd, int on) {
  if (fd < 0 || fd >= MAX_TRACKED_FD) return;
  if (on) tracked[fd / 8] |= (unsigned char)(1u << (fd % 8));
  else tracked[fd / 8] &= (unsigned char)~(1u << (fd % 8));
}

/* A descriptor accepted on `listener` (non-blocking, TCP_NODELAY), or -1 when none is waiting. */
SEXP rmlops_accept(SEXP listener) {
  int fd = accept(Rf_asInteger(listener), NULL, NULL);
  if (fd < 0) return Rf_ScalarInteger(-1);
  int flags = fcntl(fd, F_GETFL, 0);
  int one = 1;
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    close(fd);
    return Rf_ScalarInteger(-1);
  }
  /* Each response is one send(); without TCP_NODELAY a small one could wait for a delayed ACK. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  track(fd, 1);
  return Rf_ScalarInteger(fd);
}

static int fd_of(SEXP fd) {
  if (TYPEOF(fd) != INTSXP || XLENGTH(fd) != 1) return -1;
  int v = INTEGER(fd)[0];
  return v == NA_INTEGER ? -1 : v;
}

/*
 * Up to `n` bytes that have arrived: a raw vector, empty when nothing is there yet; NULL at
 * end of stream or on an error (reset), when the connection is over.
 */
SEXP rmlops_recv(SEXP fd_, SEXP n_) {
  int fd = fd_of(fd_);
  if (fd < 0) return R_NilValue;
  static unsigned char chunk[262144];
  int n = Rf_asInteger(n_);
  if (n < 1 || n > (int)sizeof chunk) n = (int)sizeof chunk;
  ssize_t got;
  do got = recv(fd, chunk, (size_t)n, MSG_DONTWAIT); while (got < 0 && errno == EINTR);
  if (got == 0) return R_NilValue;
  if (got < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? Rf_allocVector(RAWSXP, 0) : R_NilValue;
  SEXP out = Rf_allocVector(RAWSXP, (R_xlen_t)got);
  memcpy(RAW(out), chunk, (size_t)got);
  return out;
}

/*
 * Sends what the socket takes now of `bytes`: the number of bytes sent (0 when its buffer is
 * full), or -1 when the connection is broken. No SIGPIPE: a client that went away is -1.
 */
SEXP rmlops_send(SEXP fd_, SEXP bytes) {
  int fd = fd_of(fd_);
  if (fd < 0) return Rf_ScalarReal(0);
  const unsigned char *p = RAW(bytes);
  size_t len = (size_t)XLENGTH(bytes), sent = 0;
  while (sent < len) {
    ssize_t w = send(fd, p + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return Rf_ScalarReal(-1);
    }
    sent += (size_t)w;
  }
  return Rf_ScalarReal((double)sent);
}

SEXP rmlops_close(SEXP fd_) {
  int fd = fd_of(fd_);
  if (fd >= 0) {
    track(fd, 0);
    close(fd);
  }
  return R_NilValue;
}

/* In a forked child: closes every client connection its parent had accepted. */
SEXP rmlops_close_clients(void) {
  for (int fd = 0; fd < MAX_TRACKED_FD; fd++) {
    if (tracked[fd / 8] & (1u << (fd % 8))) {
      track(fd, 0);
      close(fd);
    }
  }
  return R_NilValue;
}

/*
 * poll() on `fds`, for reading, or for writing where `write` is TRUE, for up to `timeout`
 * seconds: which are ready (an error or hang-up counts as ready, and the next read or write
 * says which). NULL when a signal interrupted the wait (SIGTERM: the caller looks at it).
 */
SEXP rmlops_poll(SEXP fds, SEXP write, SEXP timeout) {
  int n = LENGTH(fds);
  struct pollfd stack[128];
  struct pollfd *p = n <= 128 ? stack : (struct pollfd *)R_alloc((size_t)n, sizeof(struct pollfd));
  for (int i = 0; i < n; i++) {
    p[i].fd = INTEGER(fds)[i];
    p[i].events = LOGICAL(write)[i] == 1 ? POLLOUT : POLLIN;
    p[i].revents = 0;
  }
  double t = Rf_asReal(timeout);
  int ms = (!R_FINITE(t) || t < 0) ? -1 : (int)ceil(t * 1000);
  int r = poll(p, (nfds_t)n, ms);
  if (r < 0) return R_NilValue;
  SEXP out = PROTECT(Rf_allocVector(LGLSXP, n));
  for (int i = 0; i < n; i++) LOGICAL(out)[i] = (p[i].revents & (POLLIN | POLLOUT | POLLERR | POLLHUP | POLLNVAL)) != 0;
  UNPROTECT(1);
  return out;
}
