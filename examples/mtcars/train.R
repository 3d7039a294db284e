# PLACEHOLDER written by the TypeScript side so the example app synthesizes; the R side replaces it.
# A regression: lm on mtcars, gated on the holdout RMSE (lower is better).
train <- function() {
  set.seed(42)
  idx <- sample(nrow(mtcars), 24)
  fit <- lm(mpg ~ wt + hp + cyl, data = mtcars[idx, ])
  holdout <- mtcars[-idx, ]
  list(
    model = fit,
    metrics = list(rmse = sqrt(mean((predict(fit, holdout) - holdout$mpg)^2))),
    params = list(formula = "mpg ~ wt + hp + cyl"),
    example = head(mtcars[c("wt", "hp", "cyl")], 3),
    predict_args = list()
  )
}
