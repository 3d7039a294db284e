/*
 * libFuzzer target: rm_json_check() (r/src/wire.c) on arbitrary bytes, under ASan and UBSan.
 * Beyond not crashing, it checks what the R code relies on: the reported offset lies within
 * the input, a rejection always explains itself, and a text that is accepted stays accepted
 * with whitespace around it (the validator reads exactly one value).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t at = 0;
  const char *what = NULL;
  int depth = size > 0 ? 1 + data[0] % RM_JSON_MAX_DEPTH : 16;
  int ok = rm_json_check(data, size, 16, &at, &what);
  if (at > size) abort();
  if (!ok && (what == NULL || what[0] == '\0')) abort();
  if (ok && what != NULL) abort();
  if (ok) {
    uint8_t *padded = (uint8_t *)malloc(size + 2);
    if (padded == NULL) return 0;
    padded[0] = ' ';
    memcpy(padded + 1, data, size);
    padded[size + 1] = '\n';
    if (!rm_json_check(padded, size + 2, 16, NULL, NULL)) abort();
    free(padded);
  }
  (void)rm_json_check(data, size, depth, NULL, NULL);
  return 0;
}
