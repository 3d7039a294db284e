# Model server entrypoint of the serve image: `Rscript /opt/rmlops/serve.R`.
# Serves the bundle the contract's modelUri variable names (see ?rmlops::serve_main).
library(rmlops)
quit(status = serve_main(), save = "no")
