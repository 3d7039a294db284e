//go:build tools

// Package tools pins KServe's controller manager main package so `go build` can name it and
// `go mod tidy` keeps its dependencies.
package tools

import _ "github.com/kserve/kserve/cmd/manager"
