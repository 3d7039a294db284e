# Training entrypoint of the train image: `Rscript /opt/rmlops/train.R`.
# Runs the user's script named by the contract's trainingScript variable (TRAINING_SCRIPT);
# everything else is in the rmlops package (see ?rmlops::train_main for the exit statuses).
library(rmlops)
quit(status = train_main(), save = "no")
