/*
 * libFuzzer target: rm_head_scan() (r/src/wire.c), the request-head scanner of the server's
 * fast path, on arbitrary bytes under ASan and UBSan. When it accepts a head, every offset it
 * returns must lie within the head and in order (http.c copies those ranges into R strings).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  /* The head is copied so ASan sees a read past its end (the server's buffer may be longer). */
  uint8_t *head = (uint8_t *)malloc(size ? size : 1);
  if (head == NULL) return 0;
  memcpy(head, data, size);
  rm_head_t h;
  int len = (int)size;
  if (rm_head_scan(head, len, &h)) {
    if (!(0 <= h.method0 && h.method0 < h.method1 && h.method1 < h.target0 && h.target0 < h.target1 &&
          h.target0 <= h.query_at && h.query_at <= h.target1 && h.target1 <= len)) abort();
    if (h.minor != 0 && h.minor != 1) abort();
    if (h.n_headers < 0 || h.n_headers > RM_MAX_HEADERS) abort();
    for (int i = 0; i < h.n_headers; i++) {
      if (!(h.target1 < h.key0[i] && h.key0[i] < h.key1[i] && h.key1[i] < h.val0[i] + 1 && h.val0[i] <= h.val1[i] &&
            h.val1[i] <= len)) abort();
    }
    if (h.content_length >= h.n_headers) abort();
  }
  free(head);
  return 0;
}
