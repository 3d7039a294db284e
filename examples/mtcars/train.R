# Example user training script: a linear regression of fuel economy (mpg) on mtcars.
#
# rmlops sources this file and calls train(); everything else (the MLflow run, logging, the
# bundle, registration and the quality-gated alias) is done by rmlops::run_training().
# Quality gate for this model: QUALITY_METRIC=rmse, QUALITY_DIRECTION=lower (e.g. threshold 4).

# The model's inputs, typed: numbers, a factor (levels "4", "6", "8") and a logical.
prepare <- function(data) {
  data.frame(wt = data$wt, hp = data$hp, cyl = factor(data$cyl, levels = c(4, 6, 8)),
             manual = data$am == 1, mpg = data$mpg)
}

train <- function(seed = 7L, test_fraction = 0.25) {
  data <- prepare(datasets::mtcars)
  set.seed(seed)
  test <- sort(sample.int(nrow(data), round(nrow(data) * test_fraction)))
  model <- stats::lm(mpg ~ wt + hp + cyl + manual, data = data[-test, ])
  predicted <- stats::predict(model, newdata = data[test, ])
  truth <- data$mpg[test]
  residuals <- truth - predicted
  list(
    model = model,
    metrics = list(
      rmse = sqrt(mean(residuals^2)),
      mae = mean(abs(residuals)),
      r_squared = 1 - sum(residuals^2) / sum((truth - mean(truth))^2),
      adj_r_squared_train = summary(model)$adj.r.squared
    ),
    params = list(model = "lm", formula = "mpg ~ wt + hp + cyl + manual", seed = seed,
                  test_fraction = test_fraction, n_train = nrow(data) - length(test), n_test = length(test)),
    example = data[1:3, c("wt", "hp", "cyl", "manual")],
    # The training rows, the drift monitor's reference (a bounded sample and summaries of them).
    reference = data[-test, ]
  )
}
