// Wrapper module for Seldon Core's executor 1.17.1 (commit 822053e7bbc8 = tag v1.17.1).
// The executor's own go.mod has replace directives (so `go install` refuses it) and points
// them at folders inside the seldon-core repository; here each points at a module version.
module rmlops.local/seldon-executor

go 1.21

require github.com/seldonio/seldon-core/executor v0.0.0-20230815125652-822053e7bbc8

replace github.com/seldonio/seldon-core/operator => github.com/seldonio/seldon-core/operator v1.17.1

// The executor's tensorflow protos are a nested module of the executor folder, so they are not in
// the executor's module zip; the same folder is fetched as a module of its own.
replace github.com/tensorflow/tensorflow/tensorflow/go/core => github.com/seldonio/seldon-core/executor/proto/tensorflow/core v0.0.0-20230815125652-822053e7bbc8

replace k8s.io/client-go => k8s.io/client-go v0.24.2

replace github.com/codahale/hdrhistogram => github.com/HdrHistogram/hdrhistogram-go v1.1.2

exclude github.com/go-logr/logr v1.0.0
