# Model URI forms the server accepts, and how each is turned into a local bundle directory.

parse_model_uri <- function(uri) {
  if (is.na(uri) || !nzchar(uri)) stop("no model URI given")
  if (length(m <- regmatches(uri, regexec("^models:/([^/@]+)@([^/@]+)$", uri))[[1L]]) == 3L) {
    return(list(kind = "alias", name = utils::URLdecode(m[[2L]]), alias = m[[3L]]))
  }
  if (length(m <- regmatches(uri, regexec("^models:/([^/@]+)/([0-9]+)$", uri))[[1L]]) == 3L) {
    return(list(kind = "version", name = utils::URLdecode(m[[2L]]), version = m[[3L]]))
  }
  if (length(m <- regmatches(uri, regexec("^runs:/([^/]+)/(.+)$", uri))[[1L]]) == 3L) {
    return(list(kind = "run", run_id = m[[2L]], path = sub("/+$", "", m[[3L]])))
  }
  if (grepl("^file://", uri)) return(list(kind = "dir", path = sub("^file://", "", uri)))
  if (grepl("^[A-Za-z][A-Za-z0-9+.-]*:", uri)) {
    stop(sprintf(paste("unsupported model URI '%s': use models:/<name>@<alias>, models:/<name>/<version>,",
                       "runs:/<run_id>/<path>, file://<dir> or a directory (e.g. /mnt/models from",
                       "Seldon's storage initializer for s3:// and other remote stores)"), uri))
  }
  list(kind = "dir", path = uri)
}

# Artifact source of a registry or run URI: list(source, name, version, run_id).
# A registry version is located through get-download-uri, not its `source`: sources written by
# other clients may be `models:/m-<id>` (MLflow 3 logged models) or `runs:/` URIs that are not
# artifact paths; the server resolves them.
resolve_model_source <- function(client, parsed) {
  info <- switch(parsed$kind,
    alias = registry_source(client, parsed$name, mlflow_get_version_by_alias(client, parsed$name, parsed$alias)),
    version = registry_source(client, parsed$name, mlflow_get_model_version(client, parsed$name, parsed$version)),
    run = list(source = paste0("runs:/", parsed$run_id, "/", parsed$path), name = NULL, version = NULL,
               run_id = parsed$run_id),
    stop(sprintf("model URI kind '%s' needs no MLflow", parsed$kind))
  )
  if (length(m <- regmatches(info$source, regexec("^runs:/([^/]+)/(.+)$", info$source))[[1L]]) == 3L) {
    run <- mlflow_get_run(client, m[[2L]])
    info$source <- paste(sub("/+$", "", run$info$artifact_uri), m[[3L]], sep = "/")
    info$run_id <- info$run_id %||% m[[2L]]
  }
  info
}

registry_source <- function(client, name, mv) {
  list(source = mlflow_get_download_uri(client, name, mv$version), name = name, version = mv$version,
       run_id = mv$run_id)
}

# Returns list(dir, name, version, run_id) with the bundle available locally in `dir`.
materialise_model <- function(uri, client_factory, scratch) {
  parsed <- parse_model_uri(uri)
  if (parsed$kind == "dir") return(list(dir = parsed$path, name = NULL, version = NULL, run_id = NULL))
  client <- client_factory()
  info <- resolve_model_source(client, parsed)
  dest <- tempfile("bundle-", tmpdir = scratch)
  mlflow_download_files(client, info$source, bundle_files, dest)
  c(list(dir = dest), info[c("name", "version", "run_id")])
}
