# Drift statistics of a window of served rows against the training reference (reference.R):
# pure functions of numbers and shares, so each is tested on hand-computed values. The monitor
# (monitor.R) applies them per feature and to the predictions. docs/monitoring-drift.md gives
# the definitions, the thresholds and the false-positive rates measured with them.

#' Empty-bin floor of the PSI
#'
#' A bin (or level) with no rows on one side would make the PSI infinite; its share is raised to
#' this floor on both sides before the PSI is summed. With 1e-4, one bin of a decile reference
#' (share 0.1) left empty in a window adds 0.1 * ln(1000) = 0.69, over any usual threshold, while
#' one row of an unseen level in a window of 200 adds 0.005 * ln(50) = 0.02.
#' @return A number.
#' @examples
#' psi_epsilon()
#' @export
psi_epsilon <- function() 1e-4

#' Drift statistics
#'
#' - `psi()`: the population stability index of two share vectors over the same bins,
#'   `sum((actual - expected) * log(actual / expected))`, each share first raised to `epsilon`
#'   (see [psi_epsilon()]). `NA` when `actual` is all `NA` (an empty window).
#' - `bin_shares()`: shares of the non-missing values of `x` in the bins cut at `breaks`
#'   (right-closed: `(-Inf, b1], (b1, b2], ..., (bk, Inf)`), as the reference stores them.
#' - `level_shares()`: counts and shares of each level among the non-missing values of `x`, and
#'   the count of values that are none of `levels` (`unseen`); shares are over all non-missing
#'   values, so with unseen values they sum to less than one.
#' - `ks_statistic()`: the two-sample Kolmogorov-Smirnov statistic, the largest distance
#'   between the empirical distribution functions of `x` and `y` (missing values dropped; `NA`
#'   if either is empty). Ties are handled exactly (no warning, unlike [stats::ks.test()]).
#' - `chisq_p()`: the p-value of Pearson's chi-square goodness-of-fit test of a window's level
#'   counts against the reference's shares. Values of no reference level count as one extra
#'   category `(other)`; a category with no reference share that the window has is expected
#'   at `epsilon`, so an unseen level gives a tiny p-value. 1 when fewer than two categories
#'   are in play; `NA` for an empty window.
#' - `numeric_drift()`, `categorical_drift()`: the figures of one feature (`psi` and `ks`, or
#'   `psi` and `chisq_p`) from its reference summary (and, for numbers, the reference sample's
#'   values) and the window's values.
#' - `drift_alarm()`: `TRUE` when any figure passes its threshold: `psi > psi`, `ks > ks`,
#'   `chisq_p < chisq_p`. Missing figures raise no alarm.
#' @param expected,actual Shares over the same bins (they need not sum to one).
#' @param epsilon Floor of each share.
#' @param x,y Values.
#' @param breaks Interior cut points, increasing.
#' @param levels Level names.
#' @param counts Window counts per reference level.
#' @param shares Reference shares per level.
#' @param unseen Window values of no reference level.
#' @param summary A feature's (or the predictions') reference summary, see [build_reference()].
#' @param reference Reference sample values of a numeric feature.
#' @param figures Named list of a feature's figures.
#' @param thresholds List with `psi`, `ks`, `chisq_p`.
#' @return Numbers (`psi()`, `ks_statistic()`, `chisq_p()`, `bin_shares()`), a list
#'   (`level_shares()`: `counts`, `shares`, `unseen`, `n`; the `*_drift()` functions: the
#'   figures), or a logical (`drift_alarm()`).
#' @examples
#' psi(c(0.5, 0.5), c(0.6, 0.4))
#' ks_statistic(1:10, 6:15)
#' chisq_p(c(a = 0.5, b = 0.5), c(a = 60, b = 40))
#' @name drift_statistics
NULL

#' @rdname drift_statistics
#' @export
psi <- function(expected, actual, epsilon = psi_epsilon()) {
  if (length(expected) != length(actual)) stop("psi(): expected and actual need the same bins")
  if (length(actual) == 0L || all(is.na(actual))) return(NA_real_)
  e <- pmax(as.numeric(expected), epsilon)
  a <- pmax(as.numeric(actual), epsilon)
  sum((a - e) * log(a / e))
}

#' @rdname drift_statistics
#' @export
bin_shares <- function(x, breaks) {
  x <- as.numeric(x)
  x <- x[!is.na(x)]
  k <- length(breaks) + 1L
  if (length(x) == 0L) return(rep(NA_real_, k))
  bins <- findInterval(x, breaks, left.open = TRUE) + 1L
  tabulate(bins, nbins = k) / length(x)
}

#' @rdname drift_statistics
#' @export
level_shares <- function(x, levels) {
  x <- as.character(x)
  x <- x[!is.na(x)]
  counts <- vapply(levels, function(l) sum(x == l), 0)
  names(counts) <- levels
  n <- length(x)
  list(counts = counts, shares = if (n > 0L) unname(counts) / n else rep(NA_real_, length(levels)),
       unseen = n - sum(counts), n = n)
}

#' @rdname drift_statistics
#' @export
ks_statistic <- function(x, y) {
  x <- as.numeric(x)
  y <- as.numeric(y)
  x <- sort(x[!is.na(x)])
  y <- sort(y[!is.na(y)])
  if (length(x) == 0L || length(y) == 0L) return(NA_real_)
  at <- sort(unique(c(x, y)))
  fx <- findInterval(at, x) / length(x)
  fy <- findInterval(at, y) / length(y)
  max(abs(fx - fy))
}

#' @rdname drift_statistics
#' @export
chisq_p <- function(shares, counts, unseen = 0, epsilon = psi_epsilon()) {
  shares <- as.numeric(shares)
  counts <- as.numeric(counts)
  other <- max(0, 1 - sum(shares))
  p <- c(shares, other)
  o <- c(counts, unseen)
  n <- sum(o)
  if (n == 0) return(NA_real_)
  # Only categories the reference has, or the window shows, take part in the test.
  keep <- p > 0 | o > 0
  p <- pmax(p[keep], epsilon)
  p <- p / sum(p)
  o <- o[keep]
  if (length(o) < 2L) return(1)
  expected <- n * p
  stat <- sum((o - expected)^2 / expected)
  stats::pchisq(stat, df = length(o) - 1L, lower.tail = FALSE)
}

#' @rdname drift_statistics
#' @export
numeric_drift <- function(summary, reference, x) {
  x <- as.numeric(x)
  window <- bin_shares(x, summary$breaks)
  list(psi = psi(summary$shares, window), ks = ks_statistic(reference, x))
}

#' @rdname drift_statistics
#' @export
categorical_drift <- function(summary, x) {
  counted <- level_shares(x, summary$levels)
  if (counted$n == 0L) return(list(psi = NA_real_, chisq_p = NA_real_))
  other_ref <- max(0, 1 - sum(summary$shares))
  list(psi = psi(c(summary$shares, other_ref), c(counted$shares, counted$unseen / counted$n)),
       chisq_p = chisq_p(summary$shares, counted$counts, counted$unseen))
}

#' @rdname drift_statistics
#' @export
drift_alarm <- function(figures, thresholds) {
  over <- function(v, t, above = TRUE) !is.null(v) && !is.na(v) && !is.null(t) && (if (above) v > t else v < t)
  over(figures$psi, thresholds$psi) || over(figures$ks, thresholds$ks) || over(figures$chisq_p, thresholds$chisq_p, above = FALSE)
}

#' Shift of the prediction distribution and performance on feedback
#'
#' `prediction_shift()` is the PSI of the window's predictions against the reference
#' predictions: over the reference's decile bins for numbers, over the class shares for
#' classes and logicals, and over the shares of the most probable class for class
#' probabilities. `performance()` compares predictions with the truth that feedback carried:
#' `rmse` for numbers, `accuracy` for classes, logicals and probabilities (the most probable
#' class); pairs with a missing side are dropped, and no pair gives an empty list.
#' @param summary The reference's prediction summary (`summary$prediction` of [read_reference()]).
#' @param predictions The window's predictions: a vector, or a matrix with one named column per
#'   class.
#' @param kind The output kind: `numeric`, `class`, `logical` or `probabilities`.
#' @param truth The true values, one per prediction.
#' @return `prediction_shift()`: a list with `psi` (`NA` for no predictions). `performance()`: a
#'   named list with `rmse` or `accuracy`, and `n`, the pairs compared.
#' @examples
#' s <- list(kind = "class", levels = c("a", "b"), shares = c(0.5, 0.5))
#' prediction_shift(s, c("a", "a", "a", "b"))
#' performance("numeric", c(1, 2, 3), c(1, 2, 5))
#' @export
prediction_shift <- function(summary, predictions) {
  if (summary$kind == "probabilities" || is.matrix(predictions)) predictions <- predicted_class(predictions)
  if (length(predictions) == 0L) return(list(psi = NA_real_))
  if (summary$kind == "numeric") return(list(psi = psi(summary$shares, bin_shares(predictions, summary$breaks))))
  list(psi = categorical_drift(summary, predictions)$psi)
}

predicted_class <- function(m) {
  if (!is.matrix(m)) return(m)
  if (nrow(m) == 0L) return(character())
  out <- colnames(m)[max.col(m, ties.method = "first")]
  out[apply(is.na(m), 1L, any)] <- NA_character_
  out
}

#' @rdname prediction_shift
#' @export
performance <- function(kind, predictions, truth) {
  if (kind == "probabilities" || is.matrix(predictions)) predictions <- predicted_class(predictions)
  if (kind == "numeric") {
    p <- suppressWarnings(as.numeric(predictions))
    t <- suppressWarnings(as.numeric(truth))
    ok <- !is.na(p) & !is.na(t)
    if (!any(ok)) return(list())
    return(list(rmse = sqrt(mean((p[ok] - t[ok])^2)), n = sum(ok)))
  }
  p <- as.character(predictions)
  t <- as.character(truth)
  if (kind == "logical") {
    p <- as.character(as.logical(toupper(p)))
    t <- as.character(as.logical(toupper(t)))
  }
  ok <- !is.na(p) & !is.na(t)
  if (!any(ok)) return(list())
  list(accuracy = mean(p[ok] == t[ok]), n = sum(ok))
}
