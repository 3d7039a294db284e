//go:build tools

// Package tools names the commands built from this module so that `go mod tidy` records everything
// they need: the API server and kubectl (scripts/real/install-cluster.sh), and the node components
// that `npm run node:up` runs (scripts/real/install-node.sh). One module, one k8s.io/kubernetes
// version for all of them.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
