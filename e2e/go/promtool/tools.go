//go:build tools

// Keeps cmd/promtool's dependencies in go.mod and go.sum (go mod tidy would drop them otherwise).
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
