// Wrapper module for Seldon Core's operator 1.17.1 (module tag operator/v1.17.1). The operator's
// module root is its main package; its own go.mod carries a replace and an exclude, which only
// apply in the main module (so `go install` refuses it): they are repeated here.
module rmlops.local/seldon-operator

go 1.20

require github.com/seldonio/seldon-core/operator v1.17.1

replace k8s.io/client-go => k8s.io/client-go v0.24.1

exclude github.com/go-logr/logr v1.0.0
