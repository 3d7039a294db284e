# Small file systems for the bundle-write tests. Mounting needs root (or CAP_SYS_ADMIN); tests
# that need one are skipped where it is not possible.
mount_tmpfs <- function(options) {
  dir <- tempfile("mnt-")
  dir.create(dir)
  rc <- suppressWarnings(system2("mount", c("-t", "tmpfs", "-o", options, "tmpfs", dir), stdout = FALSE, stderr = FALSE))
  if (!identical(rc, 0L)) {
    unlink(dir, recursive = TRUE)
    return(NA_character_)
  }
  dir
}

unmount <- function(dir) {
  system2("umount", dir, stdout = FALSE, stderr = FALSE)
  unlink(dir, recursive = TRUE)
}

# A tmpfs of 64 KiB, filled up: any further write fails with ENOSPC.
full_tmpfs <- function() {
  dir <- mount_tmpfs("size=64k")
  if (is.na(dir)) return(dir)
  system2("dd", c("if=/dev/zero", paste0("of=", file.path(dir, "filler")), "bs=4096"), stdout = FALSE, stderr = FALSE)
  dir
}

# Files in `dir` other than `keep`: what a failed write must not leave behind.
leftovers <- function(dir, keep = character()) {
  setdiff(list.files(dir, all.files = TRUE, no.. = TRUE), keep)
}
