//go:build tools

// Package tools pins the operator's main package (the module root) so `go build` can name it.
package tools

import _ "github.com/seldonio/seldon-core/operator"
