//go:build tools

// Package tools pins the executor's main package so `go build` can name it.
package tools

import _ "github.com/seldonio/seldon-core/executor/cmd/executor"
