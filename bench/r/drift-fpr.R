# False-positive and detection rates of the drift monitor's alarms (issue 22 §2), measured as
# docs/monitoring-drift.md reports them. Bounded: WINDOWS windows per dataset and shift.
#
#   R_LIBS=<library with rmlops> Rscript bench/r/drift-fpr.R [examples dir] [null windows] [shifted windows]
#
# For each example model (iris, mtcars, credit) the training reference is made as training makes
# it (the example's train(), then write_bundle with its `reference`). Unshifted windows are
# bootstrap samples of the example's whole data set (training and holdout rows); a window "has an
# alarm" when any feature passes any of its thresholds. Shifted windows add one training standard
# deviation (and half of one) to one numeric feature (each in turn), or move a quarter (and a
# tenth) of the rows of a factor to its rarest level; "detected" means that feature's alarm fired. The prediction shift (PSI) is not
# an alarm of the monitor; its rate over the PSI threshold is printed too.
# Lines starting "drift fpr:" are the figures.
suppressPackageStartupMessages(library(rmlops))
`%||%` <- function(a, b) if (is.null(a)) b else a
args <- commandArgs(trailingOnly = TRUE)
examples <- if (length(args) >= 1L) args[[1L]] else file.path(getwd(), "examples")
null_windows <- if (length(args) >= 2L) as.integer(args[[2L]]) else 1000L
windows <- if (length(args) >= 3L) as.integer(args[[3L]]) else 200L
stopifnot(null_windows >= 1L, null_windows <= 5000L, windows >= 1L, windows <= 2000L)
# Rows per window: the false-positive rate is measured at each size (a monitor's window holds at
# least minRows rows); the threshold grid and the detection rates at the middle one.
sizes <- c(100L, 200L, 500L)
size <- 200L

# Threshold grid: each row one setting; the defaults are monitor_defaults().
grid <- expand.grid(psi = c(0.1, 0.2, 0.25), ks = c(0.1, 0.15, 0.2), chisq_p = c(0.01, 0.001), KEEP.OUT.ATTRS = FALSE)
defaults <- monitor_defaults()

# Each example's whole data set (features) and how train() prepares it.
datasets_of <- list(
  iris = function(env) datasets::iris[, 1:4],
  mtcars = function(env) env$prepare(datasets::mtcars)[, c("wt", "hp", "cyl", "manual")],
  credit = function(env) env$simulate_loans(4000L, 2026L)[, c("income", "debt_ratio", "age", "years_employed", "purpose")]
)

alarm_any <- function(fig, t) any(vapply(fig$drift, function(d) drift_alarm(d, t), NA))

started <- Sys.time()
for (name in names(datasets_of)) {
  env <- new.env()
  sys.source(file.path(examples, name, "train.R"), envir = env)
  trained <- env$train()
  dir <- file.path(tempfile("fpr-"), name)
  write_bundle(trained$model, dir, trained$example, trained$predict_args %||% list(), reference = trained$reference)
  bundle <- read_bundle(dir)
  ref <- read_reference(file.path(dir, "reference"))
  data <- datasets_of[[name]](env)
  features <- ref$summary$features
  # Seeded here: the example's train() and data set their own seeds.
  set.seed(20261205L)
  window <- function(shift = NULL, amount = list(sd = 1, share = 0.25), size = 200L) {
    w <- data[sample.int(nrow(data), size, replace = TRUE), , drop = FALSE]
    rownames(w) <- NULL
    if (!is.null(shift)) {
      f <- Filter(function(x) x$name == shift, features)[[1L]]
      if (f$type %in% c("numeric", "integer")) {
        w[[shift]] <- w[[shift]] + amount$sd * f$sd
      } else {
        levels <- f$levels
        to <- levels[[which.min(f$shares)]]
        move <- sample.int(size, round(size * amount$share))
        w[[shift]][move] <- if (is.factor(w[[shift]])) factor(to, levels = levels(w[[shift]])) else as.logical(to)
      }
    }
    w
  }
  figures <- function(w) drift_figures(w, predict_bundle(bundle, w), ref, defaults, min_rows = 1L)
  # Unshifted: keep every window's figures, then count alarms for each threshold setting.
  for (n in sizes) {
    null <- lapply(seq_len(null_windows), function(i) figures(window(size = n)))
    alarms <- vapply(null, alarm_any, NA, t = defaults)
    per_feature <- vapply(features, function(f) sum(vapply(null, function(x) isTRUE(x$drift[[f$name]]$alarm), NA)), 0)
    quant <- function(stat, p) {
      v <- unlist(lapply(null, function(x) lapply(x$drift, function(d) d[[stat]])))
      if (length(v) == 0L) return("-")
      sprintf("%.3f", stats::quantile(v, p, na.rm = TRUE))
    }
    pred_psi <- vapply(null, function(x) x$prediction_shift$psi %||% NA_real_, 0)
    cat(sprintf("drift fpr: %s (%d training rows, reference sample %d, %d features), %d unshifted windows of %d rows: windows with an alarm %d (%.4f) at the defaults (psi > %g, ks > %g, chisq_p < %g); alarms per feature %s; feature psi 99th percentile %s, ks 99th %s, chisq_p 1st percentile %s; prediction shift psi > %g in %.4f of windows (99th percentile %.3f)\n",
                name, ref$summary$training_rows, ref$summary$sample_rows, length(features), null_windows, n,
                sum(alarms), mean(alarms), defaults$psi, defaults$ks, defaults$chisq_p,
                paste(sprintf("%s %d", vapply(features, function(f) f$name, ""), per_feature), collapse = ", "),
                quant("psi", 0.99), quant("ks", 0.99), quant("chisq_p", 0.01), defaults$psi, mean(pred_psi > defaults$psi, na.rm = TRUE),
                stats::quantile(pred_psi, 0.99, na.rm = TRUE)))
    if (n != size) next
    fpr <- vapply(seq_len(nrow(grid)), function(g) mean(vapply(null, alarm_any, NA, t = as.list(grid[g, ]))), 0)
    for (g in seq_len(nrow(grid))) {
      cat(sprintf("drift fpr grid: %s %d rows psi>%g ks>%g chisq_p<%g windows with an alarm %.4f\n", name, n, grid$psi[[g]], grid$ks[[g]], grid$chisq_p[[g]], fpr[[g]]))
    }
  }
  # Detection: one feature shifted at a time, by two amounts.
  for (amount in list(list(sd = 0.5, share = 0.1), list(sd = 1, share = 0.25))) for (f in features) {
    shifted <- lapply(seq_len(windows), function(i) figures(window(f$name, amount, size)))
    detected <- mean(vapply(shifted, function(x) isTRUE(x$drift[[f$name]]$alarm), NA))
    others <- mean(vapply(shifted, function(x) any(vapply(setdiff(names(x$drift), f$name), function(n) isTRUE(x$drift[[n]]$alarm), NA)), NA))
    what <- if (f$type %in% c("numeric", "integer")) sprintf("+%g sd (%.3g)", amount$sd, amount$sd * f$sd) else sprintf("%g of the rows moved to its rarest level", amount$share)
    cat(sprintf("drift fpr: %s detection, %s %s: its alarm in %.3f of %d windows; another feature's alarm in %.3f\n",
                name, f$name, what, detected, windows, others))
  }
}
cat(sprintf("drift fpr: %.1f s, load average %s\n", as.numeric(difftime(Sys.time(), started, units = "secs")),
            paste(readLines("/proc/loadavg", warn = FALSE), collapse = "")))
