# Ports, paths and environment variable names shared with the TypeScript constructs. They come
# from contract.json (generated from lib/contract.ts, installed with the package) so the two
# sides cannot drift: R code refers to a variable by its contract key, never by its name.

#' The contract shared with the TypeScript constructs
#'
#' Reads `contract.json`, installed with the package (generated from `lib/contract.ts` by
#' `scripts/gen-contract.js`): ports, HTTP paths, environment variable names and the
#' configuration-error exit code.
#'
#' @param path File to read; the installed copy by default.
#' @return A list with `executorPorts`, `modelHttpPort`, `modelPortName`, `paths`, `env` and
#'   `trainingConfigErrorExitCode`.
#' @examples
#' contract <- rmlops_contract()
#' contract$env$trainingScript
#' @export
rmlops_contract <- function(path = system.file("contract.json", package = "rmlops")) {
  if (!nzchar(path) || !file.exists(path)) {
    stop(sprintf("contract file '%s' not found: reinstall the rmlops package", path))
  }
  jsonlite::fromJSON(path, simplifyVector = TRUE)
}

# Value of the environment variable the contract calls `key`; `default` when unset or empty.
contract_env <- function(contract, key, default = NA_character_) {
  name <- contract_env_name(contract, key)
  value <- Sys.getenv(name, unset = "")
  if (identical(value, "")) default else value
}

contract_env_name <- function(contract, key) {
  name <- contract$env[[key]]
  if (is.null(name)) stop(sprintf("no environment variable '%s' in the contract", key))
  name
}

contract_env_number <- function(contract, key, default) {
  raw <- contract_env(contract, key, default = NA_character_)
  if (is.na(raw)) return(default)
  value <- suppressWarnings(as.numeric(raw))
  if (is.na(value)) {
    stop(config_error(sprintf("%s must be a number, got '%s'", contract_env_name(contract, key), raw)))
  }
  value
}
