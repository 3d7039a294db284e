# Drift statistics on inputs whose values were computed by hand (the arithmetic is in each comment).

test_that("psi of two share vectors is sum((a - e) * ln(a / e))", {
  # 0.1 * ln(0.6 / 0.5) + (-0.1) * ln(0.4 / 0.5) = 0.018232 + 0.022314
  expect_equal(psi(c(0.5, 0.5), c(0.6, 0.4)), 0.0405465, tolerance = 1e-6)
  # [0.5, 0.25, 0.25] against [0.25, 0.25, 0.5]: 0.25 ln 2 + 0 + 0.25 ln 2 = 0.5 ln 2
  expect_equal(psi(c(0.5, 0.25, 0.25), c(0.25, 0.25, 0.5)), 0.5 * log(2), tolerance = 1e-12)
  expect_equal(psi(c(0.2, 0.3, 0.5), c(0.2, 0.3, 0.5)), 0)
})

test_that("an empty bin is floored at psi_epsilon() on both sides", {
  expect_equal(psi_epsilon(), 1e-4)
  # (1e-4 - 0.25) ln(1e-4 / 0.25) + (0.5 - 0.25) ln(0.5 / 0.25) + 0 = 1.955229 + 0.173287
  expect_equal(psi(c(0.25, 0.25, 0.5), c(0, 0.5, 0.5)), 2.128516, tolerance = 1e-6)
  # empty on both sides: contributes nothing
  expect_equal(psi(c(0, 0.5, 0.5), c(0, 0.5, 0.5)), 0)
  expect_true(is.na(psi(c(0.5, 0.5), c(NA, NA))))
  expect_error(psi(c(0.5, 0.5), c(1)), "same bins")
})

test_that("bin_shares cuts right-closed bins from -Inf to +Inf and drops NA", {
  # (-Inf,2]: 1, 2; (2,3]: 3; (3,Inf): 4
  expect_equal(bin_shares(c(1, 2, 3, 4), c(2, 3)), c(0.5, 0.25, 0.25))
  expect_equal(bin_shares(c(1, NA, 4), 2), c(0.5, 0.5))
  expect_equal(bin_shares(numeric(), c(2, 3)), rep(NA_real_, 3))
  expect_equal(bin_shares(c(-1e9, 1e9), numeric()), 1)
})

test_that("level_shares counts levels and unseen values, shares over all non-missing values", {
  s <- level_shares(c("a", "b", "z", NA, "a"), c("a", "b", "c"))
  expect_equal(unname(s$counts), c(2, 1, 0))
  expect_equal(s$shares, c(0.5, 0.25, 0))
  expect_equal(s$unseen, 1)
  expect_equal(s$n, 4L)
  expect_equal(level_shares(character(), "a")$shares, NA_real_)
})

test_that("the two-sample KS statistic is the largest distance between the ECDFs, ties included", {
  # F_x(5) = 0.5, F_y(5) = 0
  expect_equal(ks_statistic(1:10, 6:15), 0.5)
  expect_equal(ks_statistic(c(1, 2, 3), c(3, 2, 1)), 0)
  # at 1: 2/3 vs 1/3; at 2: 1 vs 1
  expect_equal(ks_statistic(c(1, 1, 2), c(1, 2, 2)), 1 / 3)
  expect_equal(ks_statistic(c(1, 1, 2), c(1, 2, 2)), unname(suppressWarnings(stats::ks.test(c(1, 1, 2), c(1, 2, 2)))$statistic))
  expect_equal(ks_statistic(c(1, NA, 5), c(1, 5)), 0)
  expect_true(is.na(ks_statistic(numeric(), 1:3)))
  expect_true(is.na(ks_statistic(c(NA, NA), 1:3)))
})

test_that("chisq_p is Pearson's goodness-of-fit p-value; unseen levels make it tiny", {
  # (60-50)^2/50 + (40-50)^2/50 = 4, 1 df
  expect_equal(chisq_p(c(0.5, 0.5), c(60, 40)), stats::pchisq(4, 1, lower.tail = FALSE))
  expect_equal(chisq_p(c(0.5, 0.5), c(60, 40)), 0.04550026, tolerance = 1e-7)
  expect_equal(chisq_p(c(0.25, 0.25, 0.5), c(25, 25, 50)), 1)
  # one level only and nothing else seen: nothing to test
  expect_equal(chisq_p(1, 10), 1)
  # a level never seen in training: expected at epsilon
  expect_lt(chisq_p(1, 10, unseen = 5), 1e-10)
  expect_lt(chisq_p(c(0.5, 0.5), c(50, 50), unseen = 1), 0.01)
  expect_true(is.na(chisq_p(c(0.5, 0.5), c(0, 0))))
})

test_that("numeric_drift: a constant training feature still shows a shift", {
  ref <- rep(5, 10)
  summary <- list(breaks = numeric_breaks(ref), shares = bin_shares(ref, numeric_breaks(ref)))
  expect_equal(summary$breaks, 5)
  expect_equal(summary$shares, c(1, 0))
  expect_equal(numeric_drift(summary, ref, rep(5, 20)), list(psi = 0, ks = 0))
  # all 6: (1e-4 - 1) ln(1e-4) + (1 - 1e-4) ln(1e4) = 2 (1 - 1e-4) ln(1e4)
  d <- numeric_drift(summary, ref, rep(6, 20))
  expect_equal(d$psi, 2 * (1 - 1e-4) * log(1e4), tolerance = 1e-9)
  expect_equal(d$ks, 1)
})

test_that("numeric_drift and categorical_drift of an empty window are NA and raise no alarm", {
  summary <- list(breaks = c(1, 2), shares = c(1 / 3, 1 / 3, 1 / 3))
  d <- numeric_drift(summary, c(0, 1.5, 3), numeric())
  expect_true(is.na(d$psi) && is.na(d$ks))
  expect_false(drift_alarm(d, list(psi = 0.1, ks = 0.1, chisq_p = 0.01)))
  c <- categorical_drift(list(levels = c("a", "b"), shares = c(0.5, 0.5)), character())
  expect_true(is.na(c$psi) && is.na(c$chisq_p))
  expect_false(drift_alarm(c, list(psi = 0.1, ks = 0.1, chisq_p = 0.01)))
  # NA values are dropped, not counted as a level
  expect_equal(categorical_drift(list(levels = c("a", "b"), shares = c(0.5, 0.5)), c("a", "b", NA))$psi, 0)
})

test_that("categorical_drift adds an (other) category for levels the training never had", {
  summary <- list(levels = c("a", "b"), shares = c(0.5, 0.5))
  same <- categorical_drift(summary, c("a", "a", "b", "b"))
  expect_equal(same, list(psi = 0, chisq_p = 1))
  # [0.5, 0.25, 0.25] against [0.5, 0.5, 1e-4]: 0 + (0.25 - 0.5) ln(0.5) + (0.25 - 1e-4) ln(0.25 / 1e-4)
  shifted <- categorical_drift(summary, c("a", "a", "b", "z"))
  expect_equal(shifted$psi, -0.25 * log(0.5) + (0.25 - 1e-4) * log(0.25 / 1e-4), tolerance = 1e-9)
  expect_lt(shifted$chisq_p, 1e-6)
})

test_that("drift_alarm: psi above, ks above, chisq_p below their thresholds", {
  t <- list(psi = 0.25, ks = 0.2, chisq_p = 0.001)
  expect_false(drift_alarm(list(psi = 0.25, ks = 0.2), t))
  expect_true(drift_alarm(list(psi = 0.26, ks = 0.1), t))
  expect_true(drift_alarm(list(psi = 0.1, ks = 0.21), t))
  expect_true(drift_alarm(list(psi = 0.1, chisq_p = 0.0009), t))
  expect_false(drift_alarm(list(psi = 0.1, chisq_p = 0.001), t))
  expect_false(drift_alarm(list(psi = NA, ks = NA), t))
})

test_that("prediction_shift: PSI of numbers over the reference bins, of classes over their shares", {
  s <- list(kind = "class", levels = c("a", "b"), shares = c(0.5, 0.5))
  # [0.75, 0.25] against [0.5, 0.5]: 0.25 ln 1.5 - 0.25 ln 0.5
  expect_equal(prediction_shift(s, c("a", "a", "a", "b"))$psi, 0.25 * log(1.5) - 0.25 * log(0.5), tolerance = 1e-12)
  n <- list(kind = "numeric", breaks = c(10, 20), shares = c(0.25, 0.5, 0.25))
  expect_equal(prediction_shift(n, c(5, 15, 15, 25))$psi, 0)
  p <- list(kind = "probabilities", levels = c("a", "b"), shares = c(0.5, 0.5))
  m <- matrix(c(0.9, 0.2, 0.1, 0.8), ncol = 2, dimnames = list(NULL, c("a", "b")))
  expect_equal(prediction_shift(p, m)$psi, 0)
  expect_true(is.na(prediction_shift(s, character())$psi))
})

test_that("performance: rmse for numbers, accuracy for classes, logicals and probabilities", {
  # sqrt((0 + 0 + 4) / 3)
  expect_equal(performance("numeric", c(1, 2, 3), c(1, 2, 5)), list(rmse = sqrt(4 / 3), n = 3L))
  expect_equal(performance("numeric", c(1, NA, 3), c(1, 2, NA)), list(rmse = 0, n = 1L))
  expect_equal(performance("class", c("a", "b", "b", "a"), c("a", "b", "a", "a")), list(accuracy = 0.75, n = 4L))
  expect_equal(performance("logical", c("TRUE", "false"), c("true", "FALSE")), list(accuracy = 1, n = 2L))
  m <- matrix(c(0.9, 0.2, 0.1, 0.8), ncol = 2, dimnames = list(NULL, c("a", "b")))
  expect_equal(performance("probabilities", m, c("a", "a")), list(accuracy = 0.5, n = 2L))
  expect_equal(performance("numeric", numeric(), numeric()), list())
})
