test_that("model URIs are parsed into their kinds", {
  expect_equal(parse_model_uri("models:/iris-rf@champion"), list(kind = "alias", name = "iris-rf", alias = "champion"))
  expect_equal(parse_model_uri("models:/iris-rf/3"), list(kind = "version", name = "iris-rf", version = "3"))
  expect_equal(parse_model_uri("runs:/abc123/model"), list(kind = "run", run_id = "abc123", path = "model"))
  expect_equal(parse_model_uri("file:///mnt/models"), list(kind = "dir", path = "/mnt/models"))
  expect_equal(parse_model_uri("/mnt/models"), list(kind = "dir", path = "/mnt/models"))
  expect_error(parse_model_uri("s3://bucket/model"), "storage initializer")
  expect_error(parse_model_uri(""), "no model URI")
})

test_that("artifact URIs map to artifact proxy paths, and non-proxied roots are refused", {
  expect_equal(artifact_proxy_path("mlflow-artifacts:/1/abc/artifacts"), "1/abc/artifacts")
  expect_equal(artifact_proxy_path("mlflow-artifacts://mlflow:5000/1/abc/artifacts/"), "1/abc/artifacts")
  expect_error(artifact_proxy_path("s3://bucket/1/abc/artifacts"), "--serve-artifacts")
  client <- mlflow_client("http://h:5000/")
  expect_equal(artifact_url(client, "1/a b/model.rds"), "http://h:5000/api/2.0/mlflow-artifacts/artifacts/1/a%20b/model.rds")
})

test_that("the contract names every environment variable the programs read", {
  expect_true(all(c("trackingUri", "modelUri", "httpPort", "maxBodyBytes", "modelDir") %in% names(test_contract$env)))
  old <- Sys.getenv(test_contract$env$httpPort, unset = NA)
  on.exit(if (is.na(old)) Sys.unsetenv(test_contract$env$httpPort) else do.call(Sys.setenv, stats::setNames(list(old), test_contract$env$httpPort)))
  do.call(Sys.setenv, stats::setNames(list("9123"), test_contract$env$httpPort))
  expect_equal(contract_env_number(test_contract, "httpPort", 1), 9123)
  do.call(Sys.setenv, stats::setNames(list("x"), test_contract$env$httpPort))
  expect_error(contract_env_number(test_contract, "httpPort", 1), "must be a number")
  expect_error(contract_env(test_contract, "noSuchKey"), "no environment variable")
})

test_that("backoff grows and is capped", {
  expect_equal(backoff_delays(6, first = 1, cap = 8), c(1, 2, 4, 8, 8, 8))
})
